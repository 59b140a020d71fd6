package llama

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// This file holds every dense matrix product of the model, so that a faster backend can replace it in one
// place. All matrices are row-major float32.
//
// Every product goes through sgemm, a packed, blocked matrix multiply in the style of GotoBLAS and BLIS: B is
// copied once per call into panels of nr columns (each a contiguous run of k rows of nr values), and a
// micro-kernel computes mr×nr tiles of C, reading A in place through a row and a column stride, so a
// transposed operand costs nothing but a different stride. The micro-kernel is AVX-512 or AVX2/FMA assembly
// on amd64 (matmul_kernel_amd64.s) and plain Go elsewhere or with -tags purego. Products with a single row,
// the matrix-vector products of decoding, keep a kernel that reads the rows of B in place (matmul_gemv.go).

// Gemm computes C = alpha·op(A)·op(B), or adds it to C when acc is set, with the package's matrix multiply
// (the one every projection of the model runs through), on up to GOMAXPROCS goroutines. op(A) is m×k and
// op(B) is k×n. A is stored as m rows of stride lda (element (i,p) at a[i·lda+p]), or with transA as k rows
// (element (i,p) at a[p·lda+i]); B is stored as k rows of stride ldb, or with transB as n rows. C has m rows
// of stride ldc. Gemm reports inconsistent sizes as an error and then leaves C alone.
func Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int,
	acc bool, c []float32, ldc int) error {
	if m < 0 || n < 0 || k < 0 {
		return fmt.Errorf("llama: gemm: negative size %d×%d×%d", m, n, k)
	}
	check := func(name string, s []float32, rows, cols, ld int) error {
		if rows == 0 || cols == 0 {
			return nil
		}
		if ld < cols {
			return fmt.Errorf("llama: gemm: %s has leading dimension %d < %d", name, ld, cols)
		}
		if need := (rows-1)*ld + cols; len(s) < need {
			return fmt.Errorf("llama: gemm: %s has %d values, want at least %d", name, len(s), need)
		}
		return nil
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	if err := errors.Join(check("A", a, ar, ac, lda), check("B", b, br, bc, ldb), check("C", c, m, n, ldc)); err != nil {
		return err
	}
	sgemm(m, n, k, alpha, a, lda, transA, b, ldb, transB, acc, c, ldc, true)
	return nil
}

// GemmKernel names the micro-kernel Gemm uses on this machine and its tile, for example "avx512 12x32".
func GemmKernel() string {
	return fmt.Sprintf("%s %dx%d", kernel.name, kernel.mr, kernel.nr)
}

// matMul computes y = x·Wᵀ: x is [t][in], w is [out][in] (the GGUF layout of a weight matrix) and y is
// [t][out]. y is overwritten.
func matMul(y, x, w []float32, t, in, out int) {
	gemmNT(y, x, w, t, out, in, false)
}

// matMulAdd adds alpha·x·Wᵀ into y, with the shapes of matMul. It lets a caller fuse a scaled product into a
// running sum (a LoRA branch into its projection's output, say) without a temporary.
func matMulAdd(y, x, w []float32, t, in, out int, alpha float32) {
	sgemm(t, out, in, alpha, x, in, false, w, in, true, true, y, out, true)
}

// matMulBackX accumulates the input gradient of y = x·Wᵀ: dx[t][in] += dy[t][out]·W[out][in].
func matMulBackX(dx, dy, w []float32, t, in, out int) {
	sgemm(t, in, out, 1, dy, out, false, w, in, false, true, dx, in, true)
}

// matMulBackXScaled is matMulBackX with the product scaled by alpha: dx += alpha·dy·W.
func matMulBackXScaled(dx, dy, w []float32, t, in, out int, alpha float32) {
	sgemm(t, in, out, alpha, dy, out, false, w, in, false, true, dx, in, true)
}

// matMulBackW accumulates the weight gradient of y = x·Wᵀ: dw[out][in] += dy[t][out]ᵀ·x[t][in].
func matMulBackW(dw, dy, x []float32, t, in, out int) {
	sgemm(out, in, t, 1, dy, out, true, x, in, false, true, dw, in, true)
}

// matMulBackWScaled is matMulBackW with the product scaled by alpha: dw += alpha·dyᵀ·x.
func matMulBackWScaled(dw, dy, x []float32, t, in, out int, alpha float32) {
	sgemm(out, in, t, alpha, dy, out, true, x, in, false, true, dw, in, true)
}

// matMulLoRA computes y = x·Wᵀ + s·xa·Bᵀ, a projection and its LoRA branch (xa = x·Aᵀ, [t][r]; b is B,
// [out][r]) in one pass over y: the two products run as one over the inner dimension in+r.
func matMulLoRA(y, x, w, xa, b []float32, t, in, out, r int, s float32) {
	sgemm2(t, out, in, 1, x, in, false, w, in, true, r, s, xa, r, false, b, r, true, false, y, out, true)
}

// matMulBackXLoRA accumulates dx[t][in] += dy[t][out]·W[out][in] + dxa[t][r]·A[r][in], the input gradient of
// a projection and of its LoRA branch (dxa already scaled), in one pass over dx.
func matMulBackXLoRA(dx, dy, w, dxa, a []float32, t, in, out, r int) {
	sgemm2(t, in, out, 1, dy, out, false, w, in, false, r, 1, dxa, r, false, a, in, false, true, dx, in, true)
}

// gemmNT computes C[m][n] = A[m][k]·B[n][k]ᵀ, or adds it to C when acc is set, on up to GOMAXPROCS
// goroutines. Every element of C is summed by one goroutine in a fixed order, so results do not depend on
// the number of workers.
func gemmNT(c, a, b []float32, m, n, k int, acc bool) {
	if m < gemvRows {
		gemvNT(c, a, b, m, n, k, acc, true)
		return
	}
	sgemm(m, n, k, 1, a, k, false, b, k, true, acc, c, n, true)
}

// gemmCausal is gemm (C = A·Bᵀ on the calling goroutine, added to C when acc) restricted to the band of a
// causal mask with diagonal offset d (see gemmBand): for attention over a sequence whose first query sits at
// position d, mode bandLowerC suits the scores Q·Kᵀ and dO·Vᵀ, bandLowerA the products P·V and dS·K, and
// bandUpperA the products Pᵀ·dO and dSᵀ·Q. It skips about half the work of the dense product.
func gemmCausal(c, a, b []float32, m, n, k int, acc bool, mode, d int) {
	if m < gemvRows {
		gemvNT(c, a, b, m, n, k, acc, false) // decoding: dense, and the band is nearly everything
		return
	}
	sgemmBand(m, n, k, 1, a, k, false, b, k, true, acc, c, n, false, gemmBand{mode: mode, d: d})
}

// Blocking. A block of kcMax steps of k keeps a micro-panel of A (mr·kcMax floats, 12 KiB for AVX-512) in L1
// while the panels of B stream past it from L2; a work item covers mcPanels micro-panels of rows and
// ncPanels panels of columns, so that its share of packed B (ncPanels·nr·kcMax floats, 512 KiB) stays in L2.
// A product whose packed B would exceed qBlockFloats (8 MiB) runs as one job per block of columns, so that
// the block stays in the last-level cache while every row of A meets it (at the 1B shape's 8192-wide
// products, 1.3–2x faster than packing the whole of B).
const (
	kcMax    = 256
	mcPanels = 4
	ncPanels = 16
)

// gemvRows is the row count below which a product with Bᵀ reads B in place instead of packing it: with so
// few rows the copy would cost as much as the product.
const gemvRows = 4

// parallelMin is the work (m·n·k) below which a product runs on the calling goroutine: spawning workers costs
// more than it saves for the tiny matrices of tests and single-token decoding of tiny models. (A variable so
// tests can force the parallel paths on tiny inputs.)
var parallelMin = 1 << 16

// sgemm computes C = alpha·op(A)·op(B), or adds it to C when acc is set, where op(A) is m×k and op(B) is k×n.
// Without its transposition flag A is stored as m rows of stride lda (element (i,p) at a[i·lda+p]), and B as
// k rows of stride ldb (element (p,j) at b[p·ldb+j]); with tA, element (i,p) of op(A) is a[p·lda+i], and with
// tB element (p,j) of op(B) is b[j·ldb+p]. C has m rows of stride ldc. When parallel is set and the product
// is large enough, the work is shared by GOMAXPROCS goroutines; every element of C is still summed by one
// goroutine in a fixed order.
func sgemm(m, n, k int, alpha float32, a []float32, lda int, tA bool, b []float32, ldb int, tB bool,
	acc bool, c []float32, ldc int, parallel bool) {
	sgemmBand(m, n, k, alpha, a, lda, tA, b, ldb, tB, acc, c, ldc, parallel, gemmBand{})
}

// gemmBand restricts a product to the band a causal mask leaves, so that the zeros of a triangular operand
// or the masked part of a triangular result cost nothing. With diagonal offset d:
//
//   - bandLowerC computes only the tiles of C that meet the lower triangle j ≤ i + d; the rest of C is left
//     as it was (the caller masks it);
//   - bandLowerA treats op(A) as lower triangular, A(i,p) = 0 for p > i + d, and skips those steps;
//   - bandUpperA treats op(A) as upper triangular, A(i,p) = 0 for p < i − d, and skips those steps.
//
// Skipping zero terms changes no sum (they add exact zeros), so the banded products equal the dense ones.
type gemmBand struct {
	mode int
	d    int
}

const (
	bandNone = iota
	bandLowerC
	bandLowerA
	bandUpperA
)

// sgemm2 computes C = alpha·op(A)·op(B) + alpha2·op(A2)·op(B2), or adds it to C when acc is set, where
// op(A2) is m×k2 and op(B2) is k2×n, laid out as sgemm's operands: one product over the inner dimension
// k+k2, so C is read and written once. It serves a projection with its LoRA branch (k2 the rank).
func sgemm2(m, n, k int, alpha float32, a []float32, lda int, tA bool, b []float32, ldb int, tB bool,
	k2 int, alpha2 float32, a2 []float32, lda2 int, tA2 bool, b2 []float32, ldb2 int, tB2 bool,
	acc bool, c []float32, ldc int, parallel bool) {
	if k2 <= 0 || alpha2 == 0 {
		sgemm(m, n, k, alpha, a, lda, tA, b, ldb, tB, acc, c, ldc, parallel)
		return
	}
	if k <= 0 || k2 > kcMax || alpha == 0 {
		// Outside what the packed second segment handles: two passes.
		sgemm(m, n, k, alpha, a, lda, tA, b, ldb, tB, acc, c, ldc, parallel)
		sgemm(m, n, k2, alpha2, a2, lda2, tA2, b2, ldb2, tB2, acc || k > 0, c, ldc, parallel)
		return
	}
	seg := &gemmSeg{k: k2, scale: alpha2 / alpha, a: a2, lda: lda2, tA: tA2, b: b2, ldb: ldb2, tB: tB2}
	sgemmJob(m, n, k, alpha, a, lda, tA, b, ldb, tB, acc, c, ldc, parallel, gemmBand{}, seg)
}

// gemmSeg is the second product of sgemm2: its inner dimension k follows the first's, and its B is packed
// scaled by scale, so the kernel's alpha gives it alpha2.
type gemmSeg struct {
	k     int
	scale float32
	a     []float32
	lda   int
	tA    bool
	b     []float32
	ldb   int
	tB    bool
}

// sgemmBand is sgemm restricted to a band (see gemmBand).
func sgemmBand(m, n, k int, alpha float32, a []float32, lda int, tA bool, b []float32, ldb int, tB bool,
	acc bool, c []float32, ldc int, parallel bool, band gemmBand) {
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
	kn := kernel
	switch {
	case band.mode != bandNone:
		// The band is defined on C's rows and columns as given.
	case 2*n <= kn.nr && m > n && !tA:
		// Few columns (a LoRA rank, say) and rows of A in place: most of every tile would be padding, so
		// take dot products of the rows of A with the columns of op(B) instead.
		sgemmDots(m, n, k, alpha, a, lda, b, ldb, tB, acc, c, ldc, parallel)
		return
	case 2*n <= kn.nr && m > n, fewRows(m, n, tB):
		// Few columns, or few rows against many columns (the vocabulary projection of a chunk of rows):
		// compute Cᵀ = op(B)ᵀ·op(A)ᵀ, which pads less or packs the smaller operand, and add it back
		// transposed. Neither case holds for the swapped product.
		ct := getScratch(n * m)
		sgemm(n, m, k, alpha, b, ldb, !tB, a, lda, !tA, false, ct, m, parallel)
		if acc {
			for i := range m {
				row := c[i*ldc : i*ldc+n]
				for j := range row {
					row[j] += ct[j*m+i]
				}
			}
		} else {
			transposeStrided(c, ldc, ct, m, n, m)
		}
		putScratch(ct)
		return
	}
	sgemmJob(m, n, k, alpha, a, lda, tA, b, ldb, tB, acc, c, ldc, parallel, band, nil)
}

// fewRows reports whether sgemm computes the product of m rows and n columns, op(B) = Bᵀ when tB, as its
// transpose for having few rows against many columns. The transpose reads B as its A: in place when tB;
// otherwise each work item packs its rows from a stride of ldb floats, which pays only when one item covers
// every column of the transpose (m ≤ ncPanels·nr), as for the vocabulary's input gradient. (For dx = dy·W
// through ffn_down at the 1B shape, 1024 rows against 8192 columns, the transpose ran at about 0.6 of the
// plain product's speed.)
func fewRows(m, n int, tB bool) bool {
	nr := kernel.nr
	return m >= nr && 4*m <= n && (tB || m <= ncPanels*nr)
}

// sgemmJob runs the packed product of sgemm, with a band or a second segment (m, n, k positive).
func sgemmJob(m, n, k int, alpha float32, a []float32, lda int, tA bool, b []float32, ldb int, tB bool,
	acc bool, c []float32, ldc int, parallel bool, band gemmBand, seg *gemmSeg) {
	kn := kernel
	kAll := k
	if seg != nil {
		kAll += seg.k
	}
	if nc := qColumnBlock(n, kAll); nc < n && band.mode == bandNone && m > kn.mr {
		// Packed B larger than the block: one job per block of columns, so that every row of A meets a
		// block of packed B that stays in cache before the next is packed (each element of C is still
		// summed over the same blocks of k in the same order).
		for j0 := 0; j0 < n; j0 += nc {
			w := min(nc, n-j0)
			bj := b[j0:]
			if tB {
				bj = b[j0*ldb:]
			}
			var sj *gemmSeg
			if seg != nil {
				s := *seg
				if s.tB {
					s.b = s.b[j0*s.ldb:]
				} else {
					s.b = s.b[j0:]
				}
				sj = &s
			}
			sgemmJob(m, w, k, alpha, a, lda, tA, bj, ldb, tB, acc, c[j0:], ldc, parallel, band, sj)
		}
		return
	}
	g := gemmJob{m: m, n: n, k: k, k1: k, alpha: alpha, a: a, lda: lda, tA: tA, acc: acc, c: c, ldc: ldc,
		kn: kn, band: band, seg: seg}
	if seg != nil {
		g.k += seg.k
	}
	g.panels = (n + kn.nr - 1) / kn.nr
	kBlocks := (k + kcMax - 1) / kcMax
	g.kc = (k + kBlocks - 1) / kBlocks
	g.rowItems = (m + kn.mr*mcPanels - 1) / (kn.mr * mcPanels)
	g.colItems = (g.panels + ncPanels - 1) / ncPanels
	g.bp = getScratch(g.panels * kn.nr * g.k)
	defer putScratch(g.bp)
	if !tB && m <= kn.mr && band.mode == bandNone && seg == nil {
		g.inPlace, g.b, g.ldb = true, b, ldb
	}

	workers := runtime.GOMAXPROCS(0)
	if !parallel || m*n*g.k < parallelMin {
		workers = 1
	}
	items := g.rowItems * g.colItems
	if workers == 1 || items == 1 {
		g.packB(b, ldb, tB, 0, g.panels)
		w := newGemmWorker(&g)
		for it := range items {
			g.item(it, &w)
		}
		w.release()
		return
	}

	// Pack B in parallel, then hand out work items one at a time so that a worker slowed by other load on
	// the machine does not hold the others up.
	var wg sync.WaitGroup
	pw := min(workers, g.panels)
	for i := range pw {
		jp0, jp1 := i*g.panels/pw, (i+1)*g.panels/pw
		wg.Go(func() { g.packB(b, ldb, tB, jp0, jp1) })
	}
	wg.Wait()
	var next atomic.Int64
	for range min(workers, items) {
		wg.Go(func() {
			w := newGemmWorker(&g)
			for {
				it := int(next.Add(1) - 1)
				if it >= items {
					break
				}
				g.item(it, &w)
			}
			w.release()
		})
	}
	wg.Wait()
}

// gemmJob is one call of sgemm, its B packed.
type gemmJob struct {
	m, n, k            int // k counts both segments
	k1                 int // steps of the first segment; the second (seg) follows
	alpha              float32
	a                  []float32
	lda                int
	tA, acc            bool
	c                  []float32
	ldc                int
	kn                 *microKernel
	bp                 []float32 // packed B: panel j holds rows p < k of nr values at bp[(j·k+p)·nr:]
	panels, kc         int       // column panels of nr; steps of k per block
	rowItems, colItems int       // the grid of work items
	band               gemmBand
	seg                *gemmSeg
	// With a single micro-panel of rows, every value of B meets the kernel once and packing would only
	// copy it: whole panels of an untransposed B are then read in place (only a last, partial panel is
	// packed).
	inPlace bool
	b       []float32
	ldb     int
}

// gemmWorker holds one goroutine's buffers: a zero-padded copy of a last, partial micro-panel of A, and a
// tile for the edges of C.
type gemmWorker struct {
	apad, tile []float32
	// ablk holds the micro-panels of a work item's rows of a transposed A for one block of k, packed
	// together (see packATBlock).
	ablk []float32
}

func newGemmWorker(g *gemmJob) gemmWorker {
	steps := max(g.kc, g.k-g.k1)
	w := gemmWorker{apad: getScratch(g.kn.mr * steps), tile: getScratch(g.kn.mr * g.kn.nr)}
	if g.tA || g.seg != nil && g.seg.tA {
		w.ablk = getScratch(mcPanels * g.kn.mr * steps)
	}
	return w
}

func (w *gemmWorker) release() {
	putScratch(w.apad)
	putScratch(w.tile)
	putScratch(w.ablk)
}

// packB copies the column panels [jp0, jp1) of op(B), and of the second segment's op(B2) scaled, into g.bp,
// padding the last panel with zero columns. With B read in place only a last, partial panel is copied.
func (g *gemmJob) packB(b []float32, ldb int, tB bool, jp0, jp1 int) {
	if g.inPlace {
		jp0 = max(jp0, g.n/g.kn.nr) // the first panel that is not whole
	}
	g.packPanels(b, ldb, tB, jp0, jp1, 0, g.k1)
	if s := g.seg; s != nil {
		g.packPanels(s.b, s.ldb, s.tB, jp0, jp1, g.k1, s.k)
		if s.scale != 1 {
			nr := g.kn.nr
			for jp := jp0; jp < jp1; jp++ {
				rows := g.bp[(jp*g.k+g.k1)*nr : (jp+1)*g.k*nr]
				for i := range rows {
					rows[i] *= s.scale
				}
			}
		}
	}
}

// packPanels copies op(B), k rows, into rows [p0, p0+k) of the column panels [jp0, jp1) of g.bp.
func (g *gemmJob) packPanels(b []float32, ldb int, tB bool, jp0, jp1, p0, k int) {
	nr := g.kn.nr
	for jp := jp0; jp < jp1; jp++ {
		j0 := jp * nr
		cols := min(nr, g.n-j0)
		dst := g.bp[(jp*g.k+p0)*nr : (jp*g.k+p0+k)*nr]
		if tB {
			// Column j of the panel is row j0+j of b.
			transposeStrided(dst, nr, b[j0*ldb:], ldb, cols, k)
			if cols < nr {
				for p := range k {
					clear(dst[p*nr+cols : (p+1)*nr])
				}
			}
			continue
		}
		switch {
		case cols == nr && copyRows(dst, b[j0:], ldb, k, nr):
			// A whole panel in one assembly loop: copy would call memmove for every row.
		default:
			for p := range k {
				d := dst[p*nr : (p+1)*nr]
				copy(d, b[p*ldb+j0:][:cols])
				clear(d[cols:])
			}
		}
	}
}

// item computes work item it: a block of rows of C times a block of its column panels, over all of k.
func (g *gemmJob) item(it int, w *gemmWorker) {
	kn := g.kn
	mr, nr := kn.mr, kn.nr
	ri, cj := it/g.colItems, it%g.colItems
	r0, r1 := ri*mr*mcPanels, min(g.m, (ri+1)*mr*mcPanels)
	jp0, jp1 := cj*ncPanels, min(g.panels, (cj+1)*ncPanels)
	if g.band.mode != bandNone && !g.acc {
		// A row panel whose band is empty gets no kernel call; it must still be zero.
		for i := r0; i < r1; i += mr {
			rows := min(mr, g.m-i)
			if lo, hi, _ := g.bandOf(i, rows, jp1); lo >= hi {
				for r := range rows {
					row := g.c[(i+r)*g.ldc:]
					clear(row[jp0*nr : min(g.n, jp1*nr)])
				}
			}
		}
	}
	for p0 := 0; p0 < g.k; {
		pEnd := min(p0+g.kc, g.k1) // a block of the first segment, or the whole second one
		if p0 >= g.k1 {
			pEnd = g.k
		}
		// The A of this block, and the offset of its steps there.
		a, lda, tA, off := g.a, g.lda, g.tA, 0
		if p0 >= g.k1 {
			a, lda, tA, off = g.seg.a, g.seg.lda, g.seg.tA, g.k1
		}
		if tA {
			// Each step of a transposed A is a row of A, likely on a new page: copy the item's rows of
			// the block once, reading each row of A in one run.
			packATBlock(w.ablk, mr, a, lda, r0, r1, p0-off, pEnd-p0)
		}
		for i := r0; i < r1; i += mr {
			rows := min(mr, g.m-i)
			// Steps [q0, q1) of this block that the band leaves to the panel, and its last column panel.
			kLo, kHi, jpEnd := g.bandOf(i, rows, jp1)
			q0, q1 := max(p0, kLo), min(pEnd, kHi)
			if q0 >= q1 || jp0 >= jpEnd {
				continue
			}
			kk := q1 - q0
			acc := g.acc || q0 > kLo
			var ap []float32
			var rs, cs int
			switch {
			case tA:
				ap, rs, cs = w.ablk[((i-r0)*(pEnd-p0) + (q0-p0)*mr):][:kk*mr], 1, mr
			case rows < mr:
				ap, rs, cs = w.apad[:kk*mr], 1, mr
				packA(ap, mr, a, lda, false, i, rows, q0-off, kk)
			default:
				ap, rs, cs = a[i*lda+q0-off:], lda, 1
			}
			for jp := jp0; jp < jpEnd; jp++ {
				j0 := jp * nr
				cols := min(nr, g.n-j0)
				bp, ldb := g.panel(jp, q0, kk)
				if rows == mr && cols == nr {
					kn.tile(kk, ap, rs, cs, bp, ldb, g.c[i*g.ldc+j0:], g.ldc, g.alpha, acc)
					continue
				}
				t := w.tile
				kn.tile(kk, ap, rs, cs, bp, ldb, t, nr, g.alpha, false)
				for r := range rows {
					dst := g.c[(i+r)*g.ldc+j0:][:cols]
					src := t[r*nr:][:cols]
					if acc {
						for j, v := range src {
							dst[j] += v
						}
					} else {
						copy(dst, src)
					}
				}
			}
		}
		p0 = pEnd
	}
}

// panel returns steps [p0, p0+kk) of column panel jp of op(B) and their row stride: from the packed copy,
// or from B itself when it is read in place.
func (g *gemmJob) panel(jp, p0, kk int) ([]float32, int) {
	nr := g.kn.nr
	if g.inPlace && (jp+1)*nr <= g.n {
		return g.b[p0*g.ldb+jp*nr:][:(kk-1)*g.ldb+nr], g.ldb
	}
	return g.bp[(jp*g.k+p0)*nr:][:kk*nr], nr
}

// bandOf returns, for the row panel [i, i+rows), the steps [kLo, kHi) of k and the column panels (up to
// jpEnd, at most jp1) that the band leaves.
func (g *gemmJob) bandOf(i, rows, jp1 int) (kLo, kHi, jpEnd int) {
	kLo, kHi, jpEnd = 0, g.k, jp1
	switch d := g.band.d; g.band.mode {
	case bandLowerC:
		jpEnd = min(jp1, max(0, i+rows+d+g.kn.nr-1)/g.kn.nr) // panels that start at j ≤ i+rows−1+d
	case bandLowerA:
		kHi = min(g.k, max(0, i+rows+d))
	case bandUpperA:
		kLo = max(0, i-d)
	}
	return kLo, kHi, jpEnd
}

// packA copies rows [i, i+rows) and steps [p0, p0+kk) of op(A) (stored as sgemm describes) into ap as kk
// groups of mr values, zero past the last row: the layout a micro-kernel reads with row stride 1 and column
// stride mr.
func packA(ap []float32, mr int, a []float32, lda int, tA bool, i, rows, p0, kk int) {
	clear(ap)
	for r := range rows {
		if tA {
			for p := range kk {
				ap[p*mr+r] = a[(p0+p)*lda+i+r]
			}
		} else {
			for p, v := range a[(i+r)*lda+p0:][:kk] {
				ap[p*mr+r] = v
			}
		}
	}
}

// packATBlock copies rows [i0, i1) and steps [p0, p0+kk) of a transposed A (element (i,p) at a[p·lda+i])
// into ap as micro-panels of mr rows, zero past row i1: panel q, rows [i0+q·mr, i0+(q+1)·mr), holds kk groups
// of mr values at ap[q·kk·mr:], the layout a micro-kernel reads with row stride 1 and column stride mr.
func packATBlock(ap []float32, mr int, a []float32, lda, i0, i1, p0, kk int) {
	rows := i1 - i0
	panels := (rows + mr - 1) / mr
	whole := rows / mr
	if mr == 6 {
		// The AVX2 kernel's height, unrolled: a copy of [6]float32 would call memmove.
		for p := range kk {
			src := a[(p0+p)*lda+i0:][:rows]
			for q := range whole {
				s := src[q*6 : q*6+6]
				d := ap[(q*kk+p)*6:][:6]
				d[0], d[1], d[2], d[3], d[4], d[5] = s[0], s[1], s[2], s[3], s[4], s[5]
			}
		}
	} else {
		for p := range kk {
			src := a[(p0+p)*lda+i0:][:rows]
			for q := range whole {
				copy(ap[(q*kk+p)*mr:][:mr], src[q*mr:])
			}
		}
	}
	if whole < panels {
		packA(ap[whole*kk*mr:][:kk*mr], mr, a, lda, true, i0+whole*mr, rows-whole*mr, p0, kk)
	}
}

// sgemmDots is sgemm for few columns with A not transposed: C[i][j] = alpha·Σ_p A[i][p]·op(B)(p,j) as dot
// products of the rows of A, read in place, with the rows of op(B)ᵀ (scaled by alpha and copied if they are
// not already rows of b), through the strip kernel of gemvNT.
func sgemmDots(m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, tB, acc bool,
	c []float32, ldc int, parallel bool) {
	bt, ldt := b, ldb
	if !tB || alpha != 1 {
		bt, ldt = getScratch(n*k), k
		defer putScratch(bt)
		if tB {
			for j := range n {
				copy(bt[j*k:(j+1)*k], b[j*ldb:])
			}
		} else {
			transposeStrided(bt, k, b, ldb, k, n)
		}
		if alpha != 1 {
			for i := range bt {
				bt[i] *= alpha
			}
		}
	}
	if !acc {
		for i := range m {
			clear(c[i*ldc : i*ldc+n])
		}
	}
	workers := runtime.GOMAXPROCS(0)
	if !parallel || workers == 1 || m*n*k < parallelMin {
		gemmBlock(c, ldc, a, lda, bt, ldt, k, 0, m, 0, n)
		return
	}
	var wg sync.WaitGroup
	step := (m/workers + 1) &^ 1
	for i0 := 0; i0 < m; i0 += step {
		i1 := min(i0+step, m)
		wg.Go(func() { gemmBlock(c, ldc, a, lda, bt, ldt, k, i0, i1, 0, n) })
	}
	wg.Wait()
}

// microKernel computes one tile of C.
type microKernel struct {
	name   string
	mr, nr int
	// tile computes alpha·Σ_{p<kc} A(r,p)·B[p][j] for r < mr and j < nr, with A(r,p) = a[r·rs+p·cs] and
	// B[p][j] = b[p·ldb+j] (ldb = nr for a packed panel), and stores it into c[r·ldc+j], adding to the values
	// there when acc.
	tile func(kc int, a []float32, rs, cs int, b []float32, ldb int, c []float32, ldc int, alpha float32, acc bool)
}

// kernelGo is the portable micro-kernel: 4×4 tiles, sixteen accumulators.
var kernelGo = &microKernel{name: "go", mr: 4, nr: 4, tile: tile4x4Go}

func tile4x4Go(kc int, a []float32, rs, cs int, b []float32, ldb int, c []float32, ldc int, alpha float32, acc bool) {
	b = b[:(kc-1)*ldb+4]
	_ = a[3*rs+(kc-1)*cs]
	var c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33 float32
	for p := range kc {
		a0, a1, a2, a3 := a[p*cs], a[p*cs+rs], a[p*cs+2*rs], a[p*cs+3*rs]
		bp := b[p*ldb : p*ldb+4]
		b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	store4(c[0:4], acc, alpha, c00, c01, c02, c03)
	store4(c[ldc:ldc+4], acc, alpha, c10, c11, c12, c13)
	store4(c[2*ldc:2*ldc+4], acc, alpha, c20, c21, c22, c23)
	store4(c[3*ldc:3*ldc+4], acc, alpha, c30, c31, c32, c33)
}

func store4(c []float32, acc bool, alpha, v0, v1, v2, v3 float32) {
	c = c[:4]
	if acc {
		c[0] += alpha * v0
		c[1] += alpha * v1
		c[2] += alpha * v2
		c[3] += alpha * v3
		return
	}
	c[0], c[1], c[2], c[3] = alpha*v0, alpha*v1, alpha*v2, alpha*v3
}

// dot returns the inner product of two equal-length vectors.
func dot(x, y []float32) float32 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * y[i]
		s1 += x[i+1] * y[i+1]
		s2 += x[i+2] * y[i+2]
		s3 += x[i+3] * y[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return (s0 + s1) + (s2 + s3)
}
