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
