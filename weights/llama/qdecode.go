package llama

import (
	"encoding/binary"

	"github.com/fastslow/fastslow/weights/gguf"
)

// Fast decoding of the block formats that dominate quantized bases (Q8_0, and Q4_K and Q6_K, the bulk of a
// Q4_K_M file): the per-block scales are worked out in Go, and the values are expanded eight at a time with
// AVX2 where the CPU has it. Every value is computed with the same float32 operations, in the same order,
// as gguf.Dequantize (ggml's dequantize_row_*): a product (Q8_0, Q6_K) or a product then a difference
// (Q4_K), no fused multiply-add, so the results are equal bit for bit (TestDecodeFast).

// decodeFast decodes src, blocks of type t, into dst (len(dst) values) and reports whether it could; on
// false the caller decodes with gguf.Dequantize. Sizes must match as gguf.Dequantize requires.
func decodeFast(t gguf.Type, src []byte, dst []float32) bool {
	if !useAVX2 {
		return false
	}
	switch t {
	case gguf.TypeQ8_0, gguf.TypeQ4_K, gguf.TypeQ6_K:
	default:
		return false
	}
	bs, qk := int(t.BlockBytes()), int(t.BlockSize())
	nb := len(dst) / qk
	if nb*qk != len(dst) || len(src) != nb*bs {
		return false
	}
	switch t {
	case gguf.TypeQ8_0:
		var scales [64]float32
		for b0 := 0; b0 < nb; b0 += len(scales) {
			n := min(len(scales), nb-b0)
			for i := range n {
				scales[i] = gguf.FP16ToFP32(binary.LittleEndian.Uint16(src[(b0+i)*bs:]))
			}
			_ = dst[(b0+n)*qk-1]
			expandQ8AVX2(&src[b0*bs], n, &scales[0], &dst[b0*qk])
		}
	case gguf.TypeQ4_K:
		var dm [16]float32
		for i := range nb {
			xb, yb := src[i*bs:(i+1)*bs], dst[i*qk:(i+1)*qk]
			d := gguf.FP16ToFP32(binary.LittleEndian.Uint16(xb[0:]))
			vmin := gguf.FP16ToFP32(binary.LittleEndian.Uint16(xb[2:]))
			sc := xb[4:16]
			for j := range 8 {
				s, m := scaleMinK4(j, sc)
				dm[2*j], dm[2*j+1] = d*float32(s), vmin*float32(m)
			}
			expandQ4KAVX2(&xb[16], &dm[0], &yb[0])
		}
	case gguf.TypeQ6_K:
		var sc [16]float32
		for i := range nb {
			xb, yb := src[i*bs:(i+1)*bs], dst[i*qk:(i+1)*qk]
			d := gguf.FP16ToFP32(binary.LittleEndian.Uint16(xb[208:]))
			for j, s := range xb[192:208] {
				sc[j] = d * float32(int8(s))
			}
			expandQ6KAVX2(&xb[0], &xb[128], &sc[0], &yb[0])
			expandQ6KAVX2(&xb[64], &xb[160], &sc[8], &yb[128])
		}
	}
	return true
}

// dequantize decodes src into dst as gguf.Dequantize does, through decodeFast where it can.
func dequantize(t gguf.Type, src []byte, dst []float32) error {
	if decodeFast(t, src, dst) {
		return nil
	}
	return gguf.Dequantize(t, src, dst)
}
