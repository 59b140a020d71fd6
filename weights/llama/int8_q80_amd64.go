//go:build amd64 && !purego

package llama

import "github.com/fastslow/fastslow/weights/gguf"

// The Q8_0 × Q8_0 int8 kernel. quantMatrix.dotQ8_0's Q8_0 branch (the port of ggml's portable
// ggml_vec_dot_q8_0_q8_0) sums the blocks' results sequentially in one float32: sumf += float32(sumi)·(dx·dy).
// The kernel keeps that order for each (weight row, activation row) pair and puts four pairs side by side in
// SIMD lanes: see int8_q80_amd64.s.

func init() {
	if useAVX2 {
		if q6kFP16 == nil {
			q6kFP16 = fp16Floats()
		}
		int8Kernels[gguf.TypeQ8_0] = int8DotQ80
	}
}

// int8DotQ80 is the int8Kernel of Q8_0 weights (AVX2): for r < nx, y[r·ystride] = the dot of the Q8_0 row w
// (nb blocks of 34 bytes) with activation row r (x[r·nb …]), equal to quantMatrix.dotQ8_0. The activation values
// must lie in −127…127, as quantize_row_q8_0 (packQ8_0) makes them; the weights may be any int8. Activation rows
// are taken eight at a time, then four, then one.
//
//go:noescape
func int8DotQ80(y *float32, ystride int, w *byte, x *int8Block, nb, nx int)
