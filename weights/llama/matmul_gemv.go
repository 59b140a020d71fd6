package llama

import (
	"runtime"
	"sync"
)

// The products of decoding have one row (or a few): packing B would copy as much memory as the product reads,
// so these read the rows of B in place, as dot products in strips of 2×4 tiles; the innermost strip has an
// AVX2/FMA assembly version on amd64 (matmul_amd64.s).

// gemvNT computes C[m][n] = A[m][k]·B[n][k]ᵀ, or adds it to C when acc is set, for small m. With parallel
// set, the columns are split over GOMAXPROCS goroutines; every element is still summed in one fixed order.
func gemvNT(c, a, b []float32, m, n, k int, acc, parallel bool) {
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
	if !parallel || workers == 1 || m*n*k < parallelMin {
		gemmBlock(c, n, a, k, b, k, k, 0, m, 0, n)
		return
	}
	var wg sync.WaitGroup
	step := (n/workers + 3) &^ 3
	for j0 := 0; j0 < n; j0 += step {
		j1 := min(j0+step, n)
		wg.Go(func() { gemmBlock(c, n, a, k, b, k, k, 0, m, j0, j1) })
	}
	wg.Wait()
}

// Blocking of gemmBlock: a 2×4 tile's six row segments (6·stripK floats) stay well inside L1.
const (
	stripK = 256
	stripN = 64
)

// gemmBlock adds A·Bᵀ into the block rows [i0,i1) × columns [j0,j1) of C, where A has rows of k values at
// stride lda, B rows of k values at stride ldb, and C rows at stride ldc.
func gemmBlock(c []float32, ldc int, a []float32, lda int, b []float32, ldb, k, i0, i1, j0, j1 int) {
	var drop [stripN]float32 // the discarded second row when a single row is left
	for p0 := 0; p0 < k; p0 += stripK {
		p1 := min(p0+stripK, k)
		kk := p1 - p0
		for jb := j0; jb < j1; jb += stripN {
			je := min(jb+stripN, j1)
			nc := (je - jb) &^ 3 // columns the 2×4 strip covers; the rest take plain dot products
			bs := b[jb*ldb+p0:]
			for i := i0; i < i1; i += 2 {
				a0 := a[i*lda+p0:][:kk]
				c0 := c[i*ldc+jb : i*ldc+je]
				if i+1 == i1 {
					// A last single row (always, when decoding one token) runs through the same
					// kernel with its second row a duplicate whose results are dropped.
					strip2x4(c0, drop[:nc], a0, a0, bs, ldb, nc)
					for j := jb + nc; j < je; j++ {
						c0[j-jb] += dot(a0, b[j*ldb+p0:][:kk])
					}
					break
				}
				a1 := a[(i+1)*lda+p0:][:kk]
				c1 := c[(i+1)*ldc+jb : (i+1)*ldc+je]
				strip2x4(c0, c1, a0, a1, bs, ldb, nc)
				for j := jb + nc; j < je; j++ {
					bj := b[j*ldb+p0:][:kk]
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
