package gguf

import (
	"math"
	"sync"
)

// The conversions below are ports of ggml's portable scalar code (ggml-impl.h),
// which is what ggml uses when the CPU lacks F16C/NEON instructions and which
// agrees with those instructions (IEEE round-to-nearest-even, subnormals kept).
// Explicit float32 conversions stop the compiler from fusing a multiply and
// an add into one FMA, which would change the rounding.

// FP32ToFP16 converts f to IEEE half precision exactly like ggml's
// ggml_compute_fp32_to_fp16: round to nearest, ties to even; values too large
// become ±Inf; subnormal halves are produced, not flushed; NaN becomes the
// quiet NaN 0x7E00 with f's sign.
func FP32ToFP16(f float32) uint16 {
	const (
		scaleToInf  = 0x1.0p+112
		scaleToZero = 0x1.0p-110
	)
	base := float32(float32(abs32(f)*scaleToInf) * scaleToZero)

	w := math.Float32bits(f)
	shl1w := w + w
	sign := w & 0x80000000
	bias := shl1w & 0xFF000000
	if bias < 0x71000000 {
		bias = 0x71000000
	}

	base = float32(math.Float32frombits((bias>>1)+0x07800000) + base)
	bits := math.Float32bits(base)
	expBits := (bits >> 13) & 0x00007C00
	mantissaBits := bits & 0x00000FFF
	nonsign := expBits + mantissaBits
	if shl1w > 0xFF000000 {
		nonsign = 0x7E00
	}
	return uint16(sign>>16) | uint16(nonsign)
}

// FP16ToFP32 converts the IEEE half h to float32 exactly like ggml's
// ggml_compute_fp16_to_fp32. Every half is representable, so the result is
// exact; NaN payloads are kept, signalling NaNs become quiet.
func FP16ToFP32(h uint16) float32 {
	return fp16Table()[h]
}

var fp16Table = sync.OnceValue(func() *[1 << 16]float32 {
	// ggml also converts through a table (ggml_table_f32_f16) filled by
	// the compute function.
	var t [1 << 16]float32
	for i := range t {
		t[i] = computeFP16ToFP32(uint16(i))
	}
	return &t
})

func computeFP16ToFP32(h uint16) float32 {
	w := uint32(h) << 16
	sign := w & 0x80000000
	twoW := w + w

	const expOffset = 0xE0 << 23
	const expScale = 0x1.0p-112
	normalized := float32(math.Float32frombits((twoW>>4)+expOffset) * expScale)

	const magicMask = 126 << 23
	const magicBias = 0.5
	denormalized := float32(math.Float32frombits((twoW>>17)|magicMask) - magicBias)

	const denormalizedCutoff = 1 << 27
	var result uint32
	if twoW < denormalizedCutoff {
		result = sign | math.Float32bits(denormalized)
	} else {
		result = sign | math.Float32bits(normalized)
	}
	return math.Float32frombits(result)
}

// FP32ToBF16 converts f to bfloat16 exactly like ggml's
// ggml_compute_fp32_to_bf16: round to nearest, ties to even; NaNs are made
// quiet; subnormals are kept.
func FP32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 64
	}
	return uint16((u + (0x7fff + ((u >> 16) & 1))) >> 16)
}

// BF16ToFP32 converts the bfloat16 h to float32 (exact).
func BF16ToFP32(h uint16) float32 {
	return math.Float32frombits(uint32(h) << 16)
}

func abs32(f float32) float32 {
	return math.Float32frombits(math.Float32bits(f) &^ 0x80000000)
}
