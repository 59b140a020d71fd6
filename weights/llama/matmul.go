package llama

import (
	"runtime"
	"sync"
)

// This file holds every dense matrix product of the model, so that a faster backend (OpenBLAS behind a build
// tag, say) can replace it in one place. The innermost loop, a strip of 2×4 dot-product tiles, has an AVX2/FMA
// assembly version on amd64 (matmul_amd64.s, about ten times the scalar speed); build with -tags purego for
// Go code only. All matrices are row-major float32.
//
// The three products a linear layer needs are all expressed through one kernel, gemmNT, which computes
// C = A·Bᵀ with both A and B read along contiguous rows: the inner loop is then a pair of unit-stride streams,
// the shape a scalar Go loop handles best. The backward products transpose their operands first; that costs
// O(rows·cols) against the O(rows·cols·T) of the product itself.

// matMul computes y = x·Wᵀ: x is [t][in], w is [out][in] (the GGUF layout of a weight matrix) and y is
// [t][out]. y is overwritten.
func matMul(y, x, w []float32, t, in, out int) {
	gemmNT(y, x, w, t, out, in, false)
}

// matMulBackX accumulates the input gradient of y = x·Wᵀ: dx[t][in] += dy[t][out]·W[out][in].
func matMulBackX(dx, dy, w []float32, t, in, out int) {
	wt := getScratch(in * out)
	transpose(wt, w, out, in)
	gemmNT(dx, dy, wt, t, in, out, true)
	putScratch(wt)
}

// matMulBackW accumulates the weight gradient of y = x·Wᵀ: dw[out][in] += dy[t][out]ᵀ·x[t][in].
func matMulBackW(dw, dy, x []float32, t, in, out int) {
	dyt := getScratch(out * t)
	xt := getScratch(in * t)
	transpose(dyt, dy, t, out)
	transpose(xt, x, t, in)
	gemmNT(dw, dyt, xt, out, in, t, true)
	putScratch(dyt)
	putScratch(xt)
}

// transpose writes the [cols][rows] transpose of the [rows][cols] matrix src into dst. It walks strips of 16
// columns and, within a strip, groups of four rows, so that each write fills four adjacent values of dst and
// each strip of src stays in cache; a plain double loop is ten times slower here.
func transpose(dst, src []float32, rows, cols int) {
	const strip = 16
	for j0 := 0; j0 < cols; j0 += strip {
		j1 := min(j0+strip, cols)
		i := 0
		for ; i+4 <= rows; i += 4 {
			r0 := src[i*cols+j0 : i*cols+j1]
			r1 := src[(i+1)*cols+j0:][:len(r0)]
			r2 := src[(i+2)*cols+j0:][:len(r0)]
			r3 := src[(i+3)*cols+j0:][:len(r0)]
			for j, v := range r0 {
				d := dst[(j0+j)*rows+i:][:4]
				d[0], d[1], d[2], d[3] = v, r1[j], r2[j], r3[j]
			}
		}
		for ; i < rows; i++ {
			for j, v := range src[i*cols+j0 : i*cols+j1] {
				dst[(j0+j)*rows+i] = v
			}
		}
	}
}

// Blocking parameters. kBlock keeps a 2×4 micro-tile's six row segments (6·kBlock floats) well inside L1;
// nBlock rows of B (nBlock·kBlock floats, 64 KiB) stay in L2 while every row pair of A streams past them.
const (
	kBlock = 256
	nBlock = 64
)

// parallelMin is the work (m·n·k) below which a product runs on the calling goroutine: spawning workers costs
// more than it saves for the tiny matrices of tests and single-token decoding of tiny models. (A variable so
// tests can force the parallel paths on tiny inputs.)
var parallelMin = 1 << 16

// gemmNT computes C[m][n] = A[m][k]·B[n][k]ᵀ, or adds it to C when acc is set. The work is split over
// GOMAXPROCS goroutines by rows of C (or by columns when C has fewer rows than workers, as in single-token
// decoding). Every element of C is summed by one goroutine in a fixed order, so results do not depend on the
// number of workers.
func gemmNT(c, a, b []float32, m, n, k int, acc bool) {
	if m == 0 || n == 0 {
		return
	}
	if !acc {
		clear(c[:m*n])
	}
	if k == 0 {
		return
	}
	workers := runtime.GOMAXPROCS(0)
	if workers == 1 || m*n*k < parallelMin {
		gemmBlock(c, a, b, n, k, 0, m, 0, n)
		return
	}

	var wg sync.WaitGroup
	if m >= 2*workers {
		// Split rows in multiples of 2 to keep the micro-tiles whole.
		step := (m/workers + 1) &^ 1
		for i0 := 0; i0 < m; i0 += step {
			i1 := min(i0+step, m)
			wg.Go(func() { gemmBlock(c, a, b, n, k, i0, i1, 0, n) })
		}
	} else {
		step := (n/workers + 3) &^ 3
		for j0 := 0; j0 < n; j0 += step {
			j1 := min(j0+step, n)
			wg.Go(func() { gemmBlock(c, a, b, n, k, 0, m, j0, j1) })
		}
	}
	wg.Wait()
}

// gemm is gemmNT on the calling goroutine, for callers that already run in parallel.
func gemm(c, a, b []float32, m, n, k int, acc bool) {
	if !acc {
		clear(c[:m*n])
	}
	if m == 0 || n == 0 || k == 0 {
		return
	}
	gemmBlock(c, a, b, n, k, 0, m, 0, n)
}

// gemmBlock adds A·Bᵀ into the block rows [i0,i1) × columns [j0,j1) of C (row stride n).
func gemmBlock(c, a, b []float32, n, k, i0, i1, j0, j1 int) {
	var drop [nBlock]float32 // the discarded second row when a single row is left
	for p0 := 0; p0 < k; p0 += kBlock {
		p1 := min(p0+kBlock, k)
		kk := p1 - p0
		for jb := j0; jb < j1; jb += nBlock {
			je := min(jb+nBlock, j1)
			nc := (je - jb) &^ 3 // columns the 2×4 strip covers; the rest take plain dot products
			bs := b[jb*k+p0:]
			for i := i0; i < i1; i += 2 {
				a0 := a[i*k+p0:][:kk]
				c0 := c[i*n+jb : i*n+je]
				if i+1 == i1 {
					// A last single row (always, when decoding one token) runs through the same
					// kernel with its second row a duplicate whose results are dropped.
					strip2x4(c0, drop[:nc], a0, a0, bs, k, nc)
					for j := jb + nc; j < je; j++ {
						c0[j-jb] += dot(a0, b[j*k+p0:][:kk])
					}
					break
				}
				a1 := a[(i+1)*k+p0:][:kk]
				c1 := c[(i+1)*n+jb : (i+1)*n+je]
				strip2x4(c0, c1, a0, a1, bs, k, nc)
				for j := jb + nc; j < je; j++ {
					bj := b[j*k+p0:][:kk]
					c0[j-jb] += dot(a0, bj)
					c1[j-jb] += dot(a1, bj)
				}
			}
		}
	}
}

// strip2x4Go adds into c0[j] and c1[j], for j < ncols (a multiple of 4), the dot products of rows a0 and a1
// with the rows of b that start at j·ldb, each len(a0) long. strip2x4 is this function, or an assembly version
// of it where the CPU allows.
func strip2x4Go(c0, c1, a0, a1, b []float32, ldb, ncols int) {
	kk := len(a0)
	for j := 0; j+4 <= ncols; j += 4 {
		kernel2x4(c0[j:], c1[j:], a0, a1, b[j*ldb:][:kk], b[(j+1)*ldb:][:kk], b[(j+2)*ldb:][:kk], b[(j+3)*ldb:][:kk])
	}
}

// kernel2x4 adds the 2×4 block of dot products between rows a0,a1 and b0..b3 into c0[0:4] and c1[0:4].
// Eight accumulators and six loaded values fit the fifteen float registers Go uses on amd64; larger tiles
// spill.
func kernel2x4(c0, c1, a0, a1, b0, b1, b2, b3 []float32) {
	n := len(a0)
	a1, b0, b1, b2, b3 = a1[:n], b0[:n], b1[:n], b2[:n], b3[:n] // one bounds check here, none in the loop
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	for p, x0 := range a0 {
		x1 := a1[p]
		y0, y1, y2, y3 := b0[p], b1[p], b2[p], b3[p]
		c00 += x0 * y0
		c01 += x0 * y1
		c02 += x0 * y2
		c03 += x0 * y3
		c10 += x1 * y0
		c11 += x1 * y1
		c12 += x1 * y2
		c13 += x1 * y3
	}
	c0 = c0[:4]
	c1 = c1[:4]
	c0[0] += c00
	c0[1] += c01
	c0[2] += c02
	c0[3] += c03
	c1[0] += c10
	c1[1] += c11
	c1[2] += c12
	c1[3] += c13
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

// scratchPool recycles the transposition buffers of the backward products.
var scratchPool sync.Pool

func getScratch(n int) []float32 {
	if p, ok := scratchPool.Get().(*[]float32); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]float32, n)
}

func putScratch(s []float32) {
	scratchPool.Put(&s)
}
