//go:build amd64 && !purego

package llama

import (
	"sync"

	"github.com/fastslow/fastslow/weights/gguf"
)

// The Q6_K × Q8_K int8 kernel. quantMatrix.dotQ8_K's Q6_K branch (the port of ggml's portable
// ggml_vec_dot_q6_K_q8_K) gathers the integer products of a super-block in 8 lanes, value k in lane k%8,
// scales each lane by d in float32 and sums the lanes after the last block. Integer sums are exact in any
// order, so the kernel equals the port bit for bit as long as each lane holds exactly its own values' products
// and the float steps are the port's (multiply, then add; no FMA): see int8_q6k_amd64.s.

func init() {
	if useAVX2 {
		q6kFP16 = fp16Floats()
		int8KKernels[gguf.TypeQ6_K] = int8DotQ6K
	}
}

// q6kFP16 is gguf.FP16ToFP32 as a table the kernels read (bit-exact for every half, NaNs included).
var q6kFP16 *[1 << 16]float32

// fp16Floats returns gguf.FP16ToFP32 as a table.
func fp16Floats() *[1 << 16]float32 {
	t := new([1 << 16]float32)
	for i := range t {
		t[i] = gguf.FP16ToFP32(uint16(i))
	}
	return t
}

// q6kUnpacked is the size of a Q6_K block unpacked by q6kUnpackAVX2.
const q6kUnpacked = 448

// q6kBuffers holds scratch for unpacked weight rows.
var q6kBuffers = sync.Pool{New: func() any { return new([]byte) }}

// int8DotQ6K is the int8KKernel of Q6_K weights (AVX2): for r < nx, y[r·ystride] = the dot of the Q6_K row w
// (nb blocks of 210 bytes) with activation row r (x[r·nb …]), equal to quantMatrix.dotQ8_K. It unpacks the
// weight row once, then multiplies it with the activation rows four at a time.
func int8DotQ6K(y *float32, ystride int, w *byte, x *int8KBlock, nb, nx int) {
	if nb <= 0 {
		q6kDotAVX2(y, ystride, nil, x, nb, nx)
		return
	}
	p := q6kBuffers.Get().(*[]byte)
	if cap(*p) < nb*q6kUnpacked {
		*p = make([]byte, nb*q6kUnpacked)
	}
	u := (*p)[:nb*q6kUnpacked]
	q6kUnpackAVX2(w, nb, &u[0])
	q6kDotAVX2(y, ystride, &u[0], x, nb, nx)
	q6kBuffers.Put(p)
}

// q6kUnpackAVX2 unpacks the nb Q6_K blocks at w into nb·q6kUnpacked bytes at u (layout: int8_q6k_amd64.s).
//
//go:noescape
func q6kUnpackAVX2(w *byte, nb int, u *byte)

// q6kDotAVX2 is int8DotQ6K on the unpacked weight row u.
//
//go:noescape
func q6kDotAVX2(y *float32, ystride int, u *byte, x *int8KBlock, nb, nx int)
