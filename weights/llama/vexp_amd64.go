//go:build amd64 && !purego

package llama

// The assembly of vexp_amd64.s works on whole groups of eight values; the functions below check the bounds it
// trusts and report false where the CPU lacks AVX2 and FMA, so that the callers in vexp.go fall back to Go.

//go:noescape
func expf8AVX2(dst, src *float32, n int)

//go:noescape
func expSumAVX2(dst, src *float32, n int, shift float32) float64

//go:noescape
func maxScaleAVX2(s *float32, n int, scale float32) float32

//go:noescape
func maxAVX2(s *float32, n int) float32

//go:noescape
func scaleAVX2(s *float32, n int, c float32)

//go:noescape
func siluMulAVX2(hv, gv, uv *float32, n int)

//go:noescape
func swigluBackAVX2(dg, du, dh, gv, uv *float32, n int)

// vecOK reports whether the assembly runs here and n is a positive multiple of 8.
func vecOK(n int) bool { return useAVX2 && n > 0 && n%8 == 0 }

// expAsm sets dst[i] = e^src[i].
func expAsm(dst, src []float32) bool {
	if !vecOK(len(src)) {
		return false
	}
	_ = dst[len(src)-1]
	expf8AVX2(&dst[0], &src[0], len(src))
	return true
}

// expSumAsm sets dst[i] = e^(src[i] − shift) and returns their sum in float64.
func expSumAsm(dst, src []float32, shift float32) (float64, bool) {
	if !vecOK(len(src)) {
		return 0, false
	}
	_ = dst[len(src)-1]
	return expSumAVX2(&dst[0], &src[0], len(src), shift), true
}

// maxScaleAsm multiplies s by scale and returns the largest product.
func maxScaleAsm(s []float32, scale float32) (float32, bool) {
	if !vecOK(len(s)) {
		return 0, false
	}
	return maxScaleAVX2(&s[0], len(s), scale), true
}

// maxAsm returns the largest value of s.
func maxAsm(s []float32) (float32, bool) {
	if !vecOK(len(s)) {
		return 0, false
	}
	return maxAVX2(&s[0], len(s)), true
}

// scaleAsm multiplies s by c.
func scaleAsm(s []float32, c float32) bool {
	if !vecOK(len(s)) {
		return false
	}
	scaleAVX2(&s[0], len(s), c)
	return true
}

// siluMulAsm sets h = silu(g)·u.
func siluMulAsm(h, g, u []float32) bool {
	if !vecOK(len(g)) {
		return false
	}
	_, _ = h[len(g)-1], u[len(g)-1]
	siluMulAVX2(&h[0], &g[0], &u[0], len(g))
	return true
}

// swigluBackAsm sets dg and du from dh, g and u as swigluBackwardVec does.
func swigluBackAsm(dg, du, dh, g, u []float32) bool {
	if !vecOK(len(g)) {
		return false
	}
	_, _, _, _ = dg[len(g)-1], du[len(g)-1], dh[len(g)-1], u[len(g)-1]
	swigluBackAVX2(&dg[0], &du[0], &dh[0], &g[0], &u[0], len(g))
	return true
}
