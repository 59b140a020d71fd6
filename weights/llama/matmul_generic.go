//go:build !amd64 || purego

package llama

// useAVX2 is false where there is no assembly kernel.
var useAVX2 = false

// kernel2x4 adds the 2×4 block of dot products between rows a0,a1 and b0..b3 into c0[0:4] and c1[0:4].
func kernel2x4(c0, c1, a0, a1, b0, b1, b2, b3 []float32) {
	kernel2x4Go(c0, c1, a0, a1, b0, b1, b2, b3)
}
