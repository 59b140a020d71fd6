package llama

// Matrix products with a weight matrix kept in its GGUF encoding (Model.SetEncoded): the base of a model
// trained with LoRA needs no float32 copy, as QLoRA trains on a 4-bit base. The products decode the matrix
// a slice at a time into float32 scratch and hand it to the same packed sgemm every float32 product runs
// through, taking the route sgemm would take for the same shapes. The decoded values are the ones
// gguf.Dequantize gives (the float32 weights of a decode-first model) and every element of the result is
// summed in the same order, so each product equals its float32 counterpart bit for bit:
//
//   - sgemm packs op(B) a block of columns at a time (sgemmJob, qBlockFloats) and sums each element of C
//     over blocks of kc steps (at most kcMax) in turn; the products here decode the same block of columns
//     (whole rows of W for Wᵀ, a range of columns of every row for W) and run the packed job on it, which
//     sums over the same blocks of k in the same order.
//   - Where sgemm would compute Cᵀ = op(B)ᵀ·op(A)ᵀ and add it back transposed, the products here compute
//     the untransposed product into a scratch C and add that: each element is the same sequence of fused
//     multiply-adds (a·b = b·a) in the same blocks, so the scratch holds the same values as sgemm's Cᵀ.
//   - The matrix-vector products of decoding (gemvNT) read the rows of W a chunk at a time; each element of C
//     depends only on its row of W, and chunks start on multiples of four columns, as gemvNT's do.
//
// The memory a product needs beyond its operands is one block of columns of op(W) in float32, at most
// qBlockFloats values or 256 columns (and its packed copy), as the float32 path's packed B. The values are
// decoded by decodeFast (AVX2, for Q8_0, Q4_K and Q6_K) or gguf.Dequantize, which agree bit for bit.

// decodeRows decodes rows [r0, r1) of the matrix into dst, (r1−r0)·in values.
func (q *quantMatrix) decodeRows(dst []float32, r0, r1 int) {
	if q.raw == nil { // a float32 model's matrix (not encoded): copy
		copy(dst, q.w.Data[r0*q.in:r1*q.in])
		return
	}
	parallelChunks(r1-r0, max(1, 16384/q.in), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			q.decodeRow(dst[r*q.in:(r+1)*q.in], r0+r)
		}
	})
}

// decodeRow decodes row r of the matrix into dst (in values).
func (q *quantMatrix) decodeRow(dst []float32, r int) {
	if err := dequantize(q.typ, q.raw[r*q.rowBytes:(r+1)*q.rowBytes], dst[:q.in]); err != nil {
		panic("llama: decode row: " + err.Error()) // sizes are checked by SetEncoded
	}
}

// decodeCols decodes columns [c0, c1) of every row of the matrix into dst, row r at dst[r·(c1−c0):]. Blocks
// that straddle c0 or c1 are decoded whole into a small scratch and the needed part copied.
func (q *quantMatrix) decodeCols(dst []float32, c0, c1 int) {
	w := c1 - c0
	if q.raw == nil {
		for r := range q.out {
			copy(dst[r*w:(r+1)*w], q.w.Data[r*q.in+c0:r*q.in+c1])
		}
		return
	}
	bs := int(q.typ.BlockSize())
	b0, b1 := c0/bs, (c1+bs-1)/bs
	raw0, raw1 := b0*q.blockBytes, b1*q.blockBytes
	aligned := c0 == b0*bs && c1 == b1*bs
	parallelChunks(q.out, max(1, 16384/w), func(lo, hi int) {
		var tmp []float32
		if !aligned {
			tmp = getScratch((b1 - b0) * bs)
			defer putScratch(tmp)
		}
		for r := lo; r < hi; r++ {
			src := q.raw[r*q.rowBytes+raw0 : r*q.rowBytes+raw1]
			d := dst[r*w : (r+1)*w]
			if aligned {
				if err := dequantize(q.typ, src, d); err != nil {
					panic("llama: decode columns: " + err.Error())
				}
				continue
			}
			if err := dequantize(q.typ, src, tmp); err != nil {
				panic("llama: decode columns: " + err.Error())
			}
			copy(d, tmp[c0-b0*bs:])
		}
	})
}

// decodeAll returns the whole matrix decoded into scratch (hand it back with putScratch).
func (q *quantMatrix) decodeAll() []float32 {
	d := getScratch(q.in * q.out)
	q.decodeRows(d, 0, q.out)
	return d
}

// sgemmQ is sgemm with B the matrix q (out rows of in values): op(B) is Wᵀ (k = in, n = out) when tB, else W
// (k = out, n = in). It equals sgemm on the decoded matrix bit for bit.
func sgemmQ(m, n, k int, alpha float32, a []float32, lda int, tA bool, q *quantMatrix, tB bool,
	acc bool, c []float32, ldc int) {
	if m <= 0 || n <= 0 {
		return
	}
	if k <= 0 {
		if !acc {
			for i := range m {
				clear(c[i*ldc : i*ldc+n])
			}
		}
		return
	}
	nr := kernel.nr
	switch {
	case 2*n <= nr && m > n && !tA:
		// sgemm's dot-product route, for matrices of at most nr/2 columns: decode it all (it is tiny).
		w := q.decodeAll()
		sgemm(m, n, k, alpha, a, lda, tA, w, q.in, tB, acc, c, ldc, true)
		putScratch(w)
	case 2*n <= nr && m > n, fewRows(m, n, tB):
		// sgemm's transposed route: its Cᵀ, computed untransposed, then added or copied into C.
		t := getScratch(m * n)
		sgemmQJob(m, n, k, alpha, a, lda, tA, q, tB, false, t, n)
		for i := range m {
			row, src := c[i*ldc:i*ldc+n], t[i*n:(i+1)*n]
			if acc {
				for j, v := range src {
					row[j] += v
				}
			} else {
				copy(row, src)
			}
		}
		putScratch(t)
	default:
		sgemmQJob(m, n, k, alpha, a, lda, tA, q, tB, acc, c, ldc)
	}
}

// qBlockFloats bounds the part of op(B) a product packs at once (and, for an encoded matrix, decodes): 2^21
// values, 8 MiB, which a row of work items then reuses from the cache. (A variable so tests can force many
// blocks on small matrices.)
var qBlockFloats = 1 << 21

// sgemmQJob is sgemmJob with B the matrix q: one packed job per block of columns of op(B), each on those
// columns decoded for all k steps (whole rows of W when tB, a range of columns of every row otherwise). Each
// job runs sgemmJob's blocks of k in sgemmJob's order over its columns of C, so every element is the sum
// sgemmJob would compute on the decoded matrix; a block of columns reads and writes its part of C once, and
// the decoded block is used by every row of A before the next is decoded.
func sgemmQJob(m, n, k int, alpha float32, a []float32, lda int, tA bool, q *quantMatrix, tB bool,
	acc bool, c []float32, ldc int) {
	nc := qColumnBlock(n, k)
	bs := getScratch(nc * k)
	defer putScratch(bs)
	for j0 := 0; j0 < n; j0 += nc {
		w := min(nc, n-j0)
		var ldb int
		if tB {
			q.decodeRows(bs, j0, j0+w) // op(B)(p, j) = W[j][p]: w rows of k values
			ldb = k
		} else {
			q.decodeCols(bs, j0, j0+w) // op(B)(p, j) = W[p][j]: k rows of w values
			ldb = w
		}
		sgemmJob(m, w, k, alpha, a, lda, tA, bs, ldb, tB, acc, c[j0:], ldc, true, gemmBand{}, nil)
	}
}

// qColumnBlock returns the columns of op(B) sgemmJob packs and sgemmQJob decodes at once for a product with n columns and k
// steps: about qBlockFloats/k, a multiple of 256 (whole K-quant blocks when the columns are columns of W,
// whole panels of every micro-kernel), at least 256 and at most n.
func qColumnBlock(n, k int) int {
	nc := max(256, qBlockFloats/max(k, 1)&^255)
	return min(nc, n)
}

// sgemm2Q is sgemm2 with the first product's B the matrix q (see sgemmQ): a projection of an encoded matrix
// fused with its LoRA branch, equal to sgemm2 on the decoded matrix bit for bit.
func sgemm2Q(m, n, k int, alpha float32, a []float32, lda int, tA bool, q *quantMatrix, tB bool,
	k2 int, alpha2 float32, a2 []float32, lda2 int, tA2 bool, b2 []float32, ldb2 int, tB2 bool,
	acc bool, c []float32, ldc int) {
	if k2 <= 0 || alpha2 == 0 {
		sgemmQ(m, n, k, alpha, a, lda, tA, q, tB, acc, c, ldc)
		return
	}
	if k <= 0 || k2 > kcMax || alpha == 0 {
		sgemmQ(m, n, k, alpha, a, lda, tA, q, tB, acc, c, ldc)
		sgemm(m, n, k2, alpha2, a2, lda2, tA2, b2, ldb2, tB2, acc || k > 0, c, ldc, true)
		return
	}
	if m <= 0 || n <= 0 {
		return
	}
	// sgemm2's job: the first product's blocks, then the second product as one last block whose B is
	// packed scaled by alpha2/alpha and multiplied by the kernel's alpha.
	sgemmQJob(m, n, k, alpha, a, lda, tA, q, tB, acc, c, ldc)
	scale := alpha2 / alpha
	rows, cols := k2, n // b2's stored shape
	if tB2 {
		rows, cols = n, k2
	}
	bs := getScratch(rows * cols)
	for i := range rows {
		src, dst := b2[i*ldb2:i*ldb2+cols], bs[i*cols:(i+1)*cols]
		if scale == 1 {
			copy(dst, src)
			continue
		}
		for j, v := range src {
			dst[j] = v * scale
		}
	}
	sgemmJob(m, n, k2, alpha, a2, lda2, tA2, bs, cols, tB2, true, c, ldc, true, gemmBand{}, nil)
	putScratch(bs)
}

// gemvQ is gemvNT (C[m][n] = A[m][k]·Wᵀ for small m, added to C when acc) with W the matrix q: it decodes
// the rows of W a chunk at a time, on up to GOMAXPROCS goroutines, and runs gemvNT's kernel on each chunk.
func gemvQ(c, a []float32, q *quantMatrix, m int, acc bool) {
	n, k := q.out, q.in
	if m == 0 || n == 0 {
		return
	}
	if !acc {
		clear(c[:m*n])
	}
	const chunk = 64 // rows of W per decode, a multiple of four as gemvNT's column splits are
	chunks := (n + chunk - 1) / chunk
	parallelFor(chunks, func(ci int) {
		j0 := ci * chunk
		j1 := min(j0+chunk, n)
		w := getScratch((j1 - j0) * k)
		if q.raw == nil {
			copy(w, q.w.Data[j0*k:j1*k])
		} else {
			for j := j0; j < j1; j++ {
				q.decodeRow(w[(j-j0)*k:], j)
			}
		}
		gemmBlock(c[j0:], n, a, k, w, k, k, 0, m, 0, j1-j0)
		putScratch(w)
	})
}

// Products of the model's weight matrices. Each runs on the float32 weights, or on the encoded form when the
// base keeps one (Model.SetEncoded), with equal results.

// encoded returns the encoded form of w when the base keeps w encoded, else nil.
func (m *Model) encoded(w *Param) *quantMatrix {
	if q := m.quant[w]; q != nil && q.enc {
		return q
	}
	return nil
}

// matMulW is matMul (y = x·Wᵀ) with the weight matrix w, n rows of x.
func (m *Model) matMulW(y, x []float32, w *Param, n int) {
	q := m.encoded(w)
	if q == nil {
		matMul(y, x, w.Data, n, w.Shape[0], w.Shape[1])
		return
	}
	q.matMul(y, x, n)
}

// matMul is matMul (y = x·Wᵀ, n rows of x) with the encoded matrix q.
func (q *quantMatrix) matMul(y, x []float32, n int) {
	if n < gemvRows {
		gemvQ(y, x, q, n, false)
		return
	}
	sgemmQ(n, q.out, q.in, 1, x, q.in, false, q, true, false, y, q.out)
}

// matMulLoRAW is matMulLoRA with the weight matrix w.
func (m *Model) matMulLoRAW(y, x []float32, w *Param, xa, b []float32, n, r int, s float32) {
	q := m.encoded(w)
	in, out := w.Shape[0], w.Shape[1]
	if q == nil {
		matMulLoRA(y, x, w.Data, xa, b, n, in, out, r, s)
		return
	}
	sgemm2Q(n, out, in, 1, x, in, false, q, true, r, s, xa, r, false, b, r, true, false, y, out)
}

// matMulBackXW is matMulBackX (dx += dy·W) with the weight matrix w.
func (m *Model) matMulBackXW(dx, dy []float32, w *Param, n int) {
	q := m.encoded(w)
	in, out := w.Shape[0], w.Shape[1]
	if q == nil {
		matMulBackX(dx, dy, w.Data, n, in, out)
		return
	}
	sgemmQ(n, in, out, 1, dy, out, false, q, false, true, dx, in)
}

// matMulBackXLoRAW is matMulBackXLoRA with the weight matrix w.
func (m *Model) matMulBackXLoRAW(dx, dy []float32, w *Param, dxa, a []float32, n, r int) {
	q := m.encoded(w)
	in, out := w.Shape[0], w.Shape[1]
	if q == nil {
		matMulBackXLoRA(dx, dy, w.Data, dxa, a, n, in, out, r)
		return
	}
	sgemm2Q(n, in, out, 1, dy, out, false, q, false, r, 1, dxa, r, false, a, in, false, true, dx, in)
}

// weightData returns w's float32 values for a product that has no encoded form (float64 sums of
// Precision.GGMLPortable, say): w.Data, or the encoded matrix decoded into scratch. release hands the scratch
// back.
func (m *Model) weightData(w *Param) (data []float32, release func()) {
	q := m.encoded(w)
	if q == nil {
		return w.Data, func() {}
	}
	d := q.decodeAll()
	return d, func() { putScratch(d) }
}

// embedRow copies row t of the token embeddings (decoded when encoded) into dst.
func (m *Model) embedRow(dst []float32, t int) {
	if q := m.encoded(m.tokEmbd); q != nil {
		q.decodeRow(dst, t)
		return
	}
	d := m.Config.Dim
	copy(dst, m.tokEmbd.Data[t*d:(t+1)*d])
}

// rows returns the view of rows [r0, r1) of the encoded matrix q.
func (q *quantMatrix) rows(r0, r1 int) *quantMatrix {
	v := *q
	v.raw, v.out = q.raw[r0*q.rowBytes:r1*q.rowBytes], r1-r0
	return &v
}

// outputProductW is outputProduct (z = x·Wᵀ over blocks of vocabulary rows) with the model's output matrix.
func (m *Model) outputProductW(z, x []float32, k int) {
	w := m.output
	d, vocab := w.Shape[0], w.Shape[1]
	q := m.encoded(w)
	if q == nil {
		outputProduct(z, x, w.Data, k, d, vocab)
		return
	}
	nb := outBlockRows(d)
	if k < gemvRows || vocab <= nb {
		q.matMul(z, x, k)
		return
	}
	for v0 := 0; v0 < vocab; v0 += nb {
		v1 := min(v0+nb, vocab)
		sgemmQ(k, v1-v0, d, 1, x, d, false, q.rows(v0, v1), true, false, z[v0:], vocab)
	}
}

// outputBackXW is outputBackX (dx += dz·W over blocks of vocabulary rows) with the model's output matrix.
func (m *Model) outputBackXW(dx, dz []float32, k int) {
	w := m.output
	d, vocab := w.Shape[0], w.Shape[1]
	q := m.encoded(w)
	if q == nil {
		outputBackX(dx, dz, w.Data, k, d, vocab)
		return
	}
	nb := outBlockRows(d)
	if vocab <= nb {
		sgemmQ(k, d, vocab, 1, dz, vocab, false, q, false, true, dx, d)
		return
	}
	for v0 := 0; v0 < vocab; v0 += nb {
		v1 := min(v0+nb, vocab)
		sgemmQ(k, d, v1-v0, 1, dz[v0:], vocab, false, q.rows(v0, v1), false, true, dx, d)
	}
}
