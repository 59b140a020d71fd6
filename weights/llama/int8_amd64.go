//go:build amd64 && !purego

package llama

import "github.com/fastslow/fastslow/weights/gguf"

func init() {
	if useAVX2 {
		int8KKernels[gguf.TypeQ4_K] = int8DotQ4KU // int8DotQ4K below for fewer than 4 rows
	}
}

// int8DotQ4K is the int8KKernel of Q4_K weights (AVX2): for r < nx, y[r·ystride] = the dot of the Q4_K row
// w (nb blocks of 144 bytes) with activation row r (x[r·nb …]), equal to quantMatrix.dotQ8_K.
//
//go:noescape
func int8DotQ4K(y *float32, ystride int, w *byte, x *int8KBlock, nb, nx int)
