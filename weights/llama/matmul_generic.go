//go:build !amd64 || purego

package llama

// useAVX2 is false where there is no assembly kernel.
var useAVX2 = false

// kernel is the micro-kernel sgemm uses: the portable one where there is no assembly.
var kernel = kernelGo

// kernels lists the micro-kernels this CPU can run, for tests.
func kernels() []*microKernel { return []*microKernel{kernelGo} }

// strip2x4 is strip2x4Go where there is no assembly version.
func strip2x4(c0, c1, a0, a1, b []float32, ldb, ncols int) {
	strip2x4Go(c0, c1, a0, a1, b, ldb, ncols)
}

// transpose8 is never called where useAVX2 is false.
func transpose8(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	transposeGo(dst, ldd, src, lds, rows, cols)
}

// copyRows reports false: there is no assembly here.
func copyRows(dst, src []float32, lds, rows, width int) bool { return false }
