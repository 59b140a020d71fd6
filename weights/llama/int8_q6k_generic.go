//go:build !amd64 || purego

package llama

// Never called: dotQ6K uses dotQ6KGo where useAVX2 is false.

func dotQ6KAVX2x4(w *byte, nb int, a0, a1, a2, a3 *q6kAct, tab *float32, out *[4]float32) {
	panic("llama: no AVX2")
}
func dotQ6KAVX2x1(w *byte, nb int, act *q6kAct, tab *float32, out *float32) { panic("llama: no AVX2") }
