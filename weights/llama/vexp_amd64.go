//go:build amd64 && !purego

package llama

//go:noescape
func expf8AVX2(dst, src *float32, n int)

// expAsm sets dst[i] = e^src[i] for len(src), a multiple of 8, values and reports true, or reports false
// where the CPU lacks AVX2 and FMA.
func expAsm(dst, src []float32) bool {
	if !useAVX2 {
		return false
	}
	_ = dst[len(src)-1]
	expf8AVX2(&dst[0], &src[0], len(src))
	return true
}
