package llama

import (
	"math"
	"sync"
)

// Vectorized exponentials for the element-wise layers: e^x costs about 20 ns through math.Exp, and a training
// step of a small model takes tens of millions of them (SiLU forward and backward, the softmax of attention
// forward and again in its backward, the loss). expSlice computes them eight at a time in AVX2/FMA assembly
// where the CPU allows, with the algorithm of ggml's ggml_v_expf (the one llama.cpp's SiLU and softmax use on
// x86 with AVX2), at most 1.5 ulp from e^x; elsewhere vexpf is the same algorithm in Go.
//
// Every element goes through the same code path whatever the slice's length or offset (a tail shorter than
// eight is padded, not computed apart), so results never depend on how work is split between goroutines.

// vexpf returns e^x by the algorithm of expf8AVX2 (see vexp_amd64.s), in float32 steps with fused
// multiply-adds emulated in float64.
func vexpf(x float32) float32 {
	const r = 0x1.8p23
	z := vfma32(x, 0x1.715476p+0, r)
	n := z - r
	b := vfma32(-n, 0x1.7f7d1cp-20, vfma32(-n, 0x1.62e4p-1, x))
	e := math.Float32bits(z) << 23
	k := math.Float32frombits(e + math.Float32bits(1))
	u := b * b
	j := vfma32(vfma32(vfma32(0x1.0e4020p-7, b, 0x1.573e2ep-5), u, vfma32(0x1.555e66p-3, b, 0x1.fffdb6p-2)), u,
		float32(0x1.ffffecp-1)*b)
	an := float32(math.Abs(float64(n)))
	if !(an > 126) { // NaN included
		return vfma32(k, j, k)
	}
	var g uint32
	if n <= 0 {
		g = 0x82000000
	}
	s1 := math.Float32frombits(g + 0x7f000000)
	if an > 192 {
		return s1 * s1
	}
	s2 := math.Float32frombits(e - g)
	return vfma32(s2, j, s2) * s1
}

// vfma32 returns a·b + c rounded to float32 (through float64, where a·b is exact).
func vfma32(a, b, c float32) float32 {
	return float32(math.FMA(float64(a), float64(b), float64(c)))
}

// expSlice sets dst[i] = e^src[i] for i < len(src); dst may be src.
func expSlice(dst, src []float32) {
	dst = dst[:len(src)]
	n8 := len(src) &^ 7
	if expAsm(dst[:n8], src[:n8]) || n8 == 0 && useAVX2 {
		if n8 < len(src) {
			var t [8]float32
			copy(t[:], src[n8:])
			expAsm(t[:], t[:])
			copy(dst[n8:], t[:])
		}
		return
	}
	for i, x := range src {
		dst[i] = vexpf(x)
	}
}

// expSum sets dst[i] = e^(src[i] − shift) for i < len(src) and returns the sum of the results in float64;
// dst may be src.
func expSum(dst, src []float32, shift float32) float64 {
	dst = dst[:len(src)]
	n8 := len(src) &^ 7
	sum, ok := expSumAsm(dst[:n8], src[:n8], shift)
	if ok || n8 == 0 && useAVX2 {
		if n8 < len(src) {
			t := [8]float32{ninf, ninf, ninf, ninf, ninf, ninf, ninf, ninf} // e^−∞ = 0 adds nothing
			copy(t[:], src[n8:])
			s, _ := expSumAsm(t[:], t[:], shift)
			sum += s
			copy(dst[n8:], t[:])
		}
		return sum
	}
	for i, x := range src {
		dst[i] = vexpf(x - shift)
		sum += float64(dst[i])
	}
	return sum
}

var ninf = float32(math.Inf(-1))

// maxScale multiplies s by scale in place and returns the largest product (−Inf for an empty s).
func maxScale(s []float32, scale float32) float32 {
	n8 := len(s) &^ 7
	mx, ok := maxScaleAsm(s[:n8], scale)
	if !ok {
		mx, n8 = ninf, 0
	}
	for i := n8; i < len(s); i++ {
		s[i] *= scale
		mx = max(mx, s[i])
	}
	return mx
}

// maxOf returns the largest value of s (−Inf for an empty s).
func maxOf(s []float32) float32 {
	n8 := len(s) &^ 7
	mx, ok := maxAsm(s[:n8])
	if !ok {
		mx, n8 = ninf, 0
	}
	for _, v := range s[n8:] {
		mx = max(mx, v)
	}
	return mx
}

// scaleAll multiplies s by c in place.
func scaleAll(s []float32, c float32) {
	n8 := len(s) &^ 7
	if !scaleAsm(s[:n8], c) {
		n8 = 0
	}
	for i := n8; i < len(s); i++ {
		s[i] *= c
	}
}

// expBlock is the size of the stack buffers the Go versions of the fused layers below work through.
const expBlock = 256

// swigluForwardVec is swigluForward with the vectorized exponential: h = silu(g) ⊙ u with
// silu(x) = x/(1 + e^−x), computed as ggml_vec_silu_f32 does with AVX2 and then multiplied by u.
func swigluForwardVec(h, g, u []float32) {
	parallelChunks(len(g), elementGrain, func(lo, hi int) {
		if n8 := (hi - lo) &^ 7; siluMulAsm(h[lo:lo+n8], g[lo:lo+n8], u[lo:lo+n8]) || n8 == 0 && useAVX2 {
			if lo+n8 < hi {
				var hv, gv, uv [8]float32
				copy(gv[:], g[lo+n8:hi])
				copy(uv[:], u[lo+n8:hi])
				siluMulAsm(hv[:], gv[:], uv[:])
				copy(h[lo+n8:hi], hv[:])
			}
			return
		}
		var t [expBlock]float32
		for i0 := lo; i0 < hi; i0 += expBlock {
			gs := g[i0:min(i0+expBlock, hi)]
			ts := t[:len(gs)]
			for i, v := range gs {
				ts[i] = -v
			}
			expSlice(ts, ts)
			us, hs := u[i0:][:len(gs)], h[i0:][:len(gs)]
			for i, v := range gs {
				hs[i] = v / (1 + ts[i]) * us[i]
			}
		}
	})
}

// swigluBackwardVec is swigluBackward with the vectorized exponential: dg = dh·u·silu'(g) and
// du = dh·silu(g), with silu'(g) = σ(g)·(1 + g·(1−σ(g))).
func swigluBackwardVec(dg, du, dh, g, u []float32) {
	parallelChunks(len(g), elementGrain, func(lo, hi int) {
		n8 := (hi - lo) &^ 7
		if swigluBackAsm(dg[lo:lo+n8], du[lo:lo+n8], dh[lo:lo+n8], g[lo:lo+n8], u[lo:lo+n8]) || n8 == 0 && useAVX2 {
			if lo+n8 < hi {
				var dgv, duv, dhv, gv, uv [8]float32
				copy(dhv[:], dh[lo+n8:hi])
				copy(gv[:], g[lo+n8:hi])
				copy(uv[:], u[lo+n8:hi])
				swigluBackAsm(dgv[:], duv[:], dhv[:], gv[:], uv[:])
				copy(dg[lo+n8:hi], dgv[:])
				copy(du[lo+n8:hi], duv[:])
			}
			return
		}
		var t [expBlock]float32
		for i0 := lo; i0 < hi; i0 += expBlock {
			gs := g[i0:min(i0+expBlock, hi)]
			ts := t[:len(gs)]
			for i, v := range gs {
				ts[i] = -v
			}
			expSlice(ts, ts)
			us, dhs := u[i0:][:len(gs)], dh[i0:][:len(gs)]
			dgs, dus := dg[i0:][:len(gs)], du[i0:][:len(gs)]
			for i, v := range gs {
				sig := 1 / (1 + ts[i])
				dgs[i] = dhs[i] * us[i] * sig * (1 + v*(1-sig))
				dus[i] = dhs[i] * v * sig
			}
		}
	})
}

// softmaxRow replaces the scores s with e^(s·scale − max) / Σ, the softmax of ggml_soft_max_ext over one
// row (scale, then exponentials, summed in float64), and returns the maximum of s·scale and the inverse sum,
// which the backward uses to rebuild the row.
func softmaxRow(s []float32, scale float32) (mx, inv float32) {
	mx = maxScale(s, scale)
	inv = float32(1 / expSum(s, s, mx))
	scaleAll(s, inv)
	return mx, inv
}

// softmaxRebuild recomputes a row of softmaxRow's output from its scores, maximum and inverse sum:
// p = e^(s·scale − mx)·inv, in place, rounded exactly as softmaxRow rounds.
func softmaxRebuild(s []float32, scale, mx, inv float32) {
	maxScale(s, scale)
	expSum(s, s, mx)
	scaleAll(s, inv)
}

// crossEntropyVec is crossEntropy with the vectorized exponential (summed in float64): it returns
// −log softmax(z)[target] and, if grad is not nil, writes softmax(z) − onehot(target) into grad (which may
// alias z).
func crossEntropyVec(grad, z []float32, target int) float64 {
	mx := maxOf(z)
	zt := z[target]
	e := grad
	if e == nil {
		buf := scratchExp.Get().(*[]float32)
		defer scratchExp.Put(buf)
		if cap(*buf) < len(z) {
			*buf = make([]float32, len(z))
		}
		e = (*buf)[:len(z)]
	}
	sum := expSum(e, z, mx)
	if grad != nil {
		scaleAll(grad[:len(z)], float32(1/sum))
		grad[target] -= 1
	}
	return math.Log(sum) + float64(mx) - float64(zt)
}

var scratchExp = sync.Pool{New: func() any { return new([]float32) }}
