//go:build amd64 && !purego

package llama

import "golang.org/x/sys/cpu"

// useAVX2 selects the assembly strip kernel of gemvNT; tests switch it off to check the Go kernel against it.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

var (
	kernelAVX512 = &microKernel{name: "avx512", mr: 12, nr: 32, tile: tile12x32AVX512}
	kernelAVX2   = &microKernel{name: "avx2", mr: 6, nr: 16, tile: tile6x16AVX2}
)

// kernel is the micro-kernel sgemm uses: the widest this CPU runs.
var kernel = kernels()[0]

// kernels lists the micro-kernels this CPU can run, fastest first.
func kernels() []*microKernel {
	var ks []*microKernel
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, kernelAVX512)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, kernelAVX2)
	}
	return append(ks, kernelGo)
}

//go:noescape
func kernel12x32AVX512(kc int, a *float32, rs, cs int, b *float32, ldb int, c *float32, ldc int, alpha float32, acc bool)

//go:noescape
func kernel6x16AVX2(kc int, a *float32, rs, cs int, b *float32, ldb int, c *float32, ldc int, alpha float32, acc bool)

// tile12x32AVX512 is microKernel.tile for kernel12x32AVX512, which trusts these bounds.
func tile12x32AVX512(kc int, a []float32, rs, cs int, b []float32, ldb int, c []float32, ldc int, alpha float32, acc bool) {
	_, _, _ = a[11*rs+(kc-1)*cs], b[(kc-1)*ldb+31], c[11*ldc+31]
	kernel12x32AVX512(kc, &a[0], rs, cs, &b[0], ldb, &c[0], ldc, alpha, acc)
}

// tile6x16AVX2 is microKernel.tile for kernel6x16AVX2, which trusts these bounds.
func tile6x16AVX2(kc int, a []float32, rs, cs int, b []float32, ldb int, c []float32, ldc int, alpha float32, acc bool) {
	_, _, _ = a[5*rs+(kc-1)*cs], b[(kc-1)*ldb+15], c[5*ldc+15]
	kernel6x16AVX2(kc, &a[0], rs, cs, &b[0], ldb, &c[0], ldc, alpha, acc)
}

// strip2x4AVX2 adds into c0[j] and c1[j], for j < ncols (a multiple of 4), the dot products over the first k
// values (k a multiple of 8) of rows a0 and a1 with the row of b that starts ldb floats after the previous.
//
//go:noescape
func strip2x4AVX2(a0, a1, b *float32, ldb, k, ncols int, c0, c1 *float32)

// strip2x4 adds into c0[j] and c1[j], for j < ncols (a multiple of 4), the dot products of rows a0 and a1
// with the rows of b that start at j·ldb, each len(a0) long.
func strip2x4(c0, c1, a0, a1, b []float32, ldb, ncols int) {
	kk := len(a0)
	k8 := kk &^ 7
	if !useAVX2 || k8 == 0 || ncols == 0 {
		strip2x4Go(c0, c1, a0, a1, b, ldb, ncols)
		return
	}
	// Bounds the assembly relies on, checked once.
	_, _, _, _ = a1[kk-1], b[(ncols-1)*ldb+kk-1], c0[ncols-1], c1[ncols-1]
	strip2x4AVX2(&a0[0], &a1[0], &b[0], ldb, k8, ncols, &c0[0], &c1[0])
	if k8 < kk {
		t0, t1 := a0[k8:], a1[k8:kk]
		for j := range ncols {
			bj := b[j*ldb+k8 : j*ldb+kk]
			c0[j] += dot(t0, bj)
			c1[j] += dot(t1, bj)
		}
	}
}

//go:noescape
func transpose8AVX2(dst *float32, ldd int, src *float32, lds, rows, cols int)

// transpose8 sets dst[j·ldd+i] = src[i·lds+j] for i < rows and j < cols, both multiples of 8.
func transpose8(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	_, _ = src[(rows-1)*lds+cols-1], dst[(cols-1)*ldd+rows-1] // the bounds the assembly trusts
	transpose8AVX2(&dst[0], ldd, &src[0], lds, rows, cols)
}

//go:noescape
func copyRowsAVX2(dst, src *float32, lds, rows, width int)

// copyRows sets dst[r·width+j] = src[r·lds+j] for r < rows and j < width and reports true, or reports false
// where there is no assembly for it (no AVX2, or width not a multiple of 8).
func copyRows(dst, src []float32, lds, rows, width int) bool {
	if !useAVX2 || width%8 != 0 || rows == 0 || width == 0 {
		return false
	}
	_, _ = dst[rows*width-1], src[(rows-1)*lds+width-1] // the bounds the assembly trusts
	copyRowsAVX2(&dst[0], &src[0], lds, rows, width)
	return true
}
