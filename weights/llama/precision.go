package llama

import "math"

// Precision selects where inference rounds intermediate values to float16 the way llama.cpp's CPU backend
// does, for closer parity with Ollama. The zero value computes everything in float32. Training
// (LossAndGrad) always runs in float32: rounding has no useful gradient.
//
// Measured against Ollama v0.6.5 (default settings) on a tiny two-block model, the unit-length final hidden
// state of a prompt differed from Ollama's by up to 3e-4 in float32; with KVCacheF16 by 1e-7 to 3e-6 on an
// F32 GGUF, and with both fields set by 4e-8 to 9e-5 on an F16 GGUF (where a float16 rounding that flips on
// a last-bit difference of the summation order still shows).
type Precision struct {
	// KVCacheF16 emulates llama.cpp's default float16 key/value cache (Ollama's OLLAMA_KV_CACHE_TYPE unset
	// or f16): keys and values are stored as float16, and ggml_mul_mat converts the queries and the attention
	// weights to float16 to multiply them with the cache.
	KVCacheF16 bool
	// F16Weights emulates a GGUF whose matrices are F16: ggml_mul_mat converts the input of every F16 matrix
	// product (q/k/v/output, the feed-forward and the output projection) to float16. LoRA products, whose
	// tensors this package exports as F32, are not rounded.
	F16Weights bool
	// Quantized multiplies by every matrix that has a stored form (Model.SetQuantized) as llama.cpp's CPU
	// backend does: for Q4_0, Q8_0, Q4_K, Q5_K and Q6_K, inputs quantized to Q8_0 or Q8_K blocks, integer
	// block dot products and float32 sums in ggml's order; for F16, inputs rounded to float16 (per matrix,
	// where F16Weights rounds for all). Types with an int8 kernel on this CPU (Int8Types) run it, as fast as
	// Int8; the others run portable ports, much slower than the float32 products. Matrices without a
	// stored form, and LoRA products, are unaffected.
	Quantized bool
	// Int8 multiplies by every matrix kept in a stored form (SetEncoded, SetQuantized) whose type has an int8
	// kernel on this CPU (Int8Types) as Quantized does — each input row quantized to Q8_K or Q8_0 blocks,
	// integer block dot products, results equal to Quantized's bit for bit — through SIMD kernels that are
	// faster than the float32 products on an encoded base. Other matrices, LoRA products and training are
	// unaffected. Ignored under GGMLPortable (which computes in float64) and where Quantized already applies.
	Int8 bool
	// GGMLPortable computes as ggml's portable CPU code does, the code a build without SIMD extensions runs
	// (Ollama v0.6.5 built with `go install` on x86-64: its cgo flags select no -march): every float product
	// (F32 and F16 matrices, LoRA, attention scores and weighted values, the output projection) sums its
	// float32 products in float64 in index order, and SiLU and softmax use ggml's SSE2 exponential (ggml_v_expf) and glibc's expf
	// where ggml does. Results then round
	// exactly like that runner's instead of differing in the last bits. It is several times slower than the
	// blocked float32 products. (Ollama's release builds use SIMD kernels, which sum in other orders.)
	GGMLPortable bool
	// FlashAttention computes attention as ggml's CPU flash attention kernel does (ggml_flash_attn_ext): each
	// query's scores one key at a time with an online softmax, the weighted values accumulated in float16
	// with an F16 cache. Ollama v0.17.4 runs it for every model on the CPU: its llama.cpp runner's
	// flash-attention setting "auto" turns it on, and its own engine enables it for qwen3 and gemma3.
	// v0.6.5 does not (use Runner there).
	FlashAttention bool
}

// Runner returns the Precision that reproduces the computation of Ollama's llama.cpp runner as built from
// the Go module (no SIMD extensions): F16 KV cache, stored matrix forms and float64 sums. Greedy outputs
// then match the runner's exactly (see the parity tests), at a fraction of the speed of the zero value.
func Runner() Precision {
	return Precision{KVCacheF16: true, Quantized: true, GGMLPortable: true}
}

// RunnerFlash returns Runner with FlashAttention: the computation of Ollama v0.17.4 built from the Go module,
// on its llama.cpp runner (llama, qwen2) and on its own engine (qwen3, gemma3), which share ggml's portable
// CPU kernels.
func RunnerFlash() Precision {
	p := Runner()
	p.FlashAttention = true
	return p
}

// roundHalf returns x rounded to the nearest float16 value (ties to even), as F16C's vcvtps2ph and
// ggml_fp32_to_fp16 do, and converted back to float32. Values beyond the float16 range become infinities.
func roundHalf(x float32) float32 {
	b := math.Float32bits(x)
	sign, abs := b&0x80000000, b&0x7fffffff
	switch {
	case abs >= 0x7f800000: // infinity or NaN
		return x
	case abs >= 0x477ff000: // 65520 and up round past the largest float16, 65504
		return math.Float32frombits(sign | 0x7f800000)
	case abs < 0x38800000: // below 2^-14: float16 subnormals, multiples of 2^-24
		const q = 1 << 24
		return float32(math.RoundToEven(float64(x)*q) / q)
	}
	// Normal range: keep 10 of the 23 mantissa bits, rounding the 13 dropped ones to nearest even. A carry
	// out of the mantissa correctly bumps the exponent.
	abs += 0xfff + (abs>>13)&1
	return math.Float32frombits(sign | abs&^0x1fff)
}

// roundHalfAll rounds every value of x to float16 in place.
func roundHalfAll(x []float32) {
	for i, v := range x {
		x[i] = roundHalf(v)
	}
}
