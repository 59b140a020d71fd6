//go:build !amd64 || purego

package llama

// Never called: decodeFast returns false first where useAVX2 is false.

func expandQ8AVX2(src *byte, n int, scales *float32, dst *float32) { panic("llama: no AVX2") }
func expandQ4KAVX2(qs *byte, dm *float32, dst *float32)            { panic("llama: no AVX2") }
func expandQ6KAVX2(ql, qh *byte, sc *float32, dst *float32)        { panic("llama: no AVX2") }
