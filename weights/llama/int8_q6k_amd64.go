//go:build amd64 && !purego

package llama

// dotQ6KAVX2x4 sets out[r] to the product of the Q6_K row w (nb blocks) with the prepared activation row ar
// (nb blocks each), r < 4; tab is fp16Floats.
//
//go:noescape
func dotQ6KAVX2x4(w *byte, nb int, a0, a1, a2, a3 *q6kAct, tab *float32, out *[4]float32)

// dotQ6KAVX2x1 sets *out to the product of the Q6_K row w (nb blocks) with the prepared activation row act.
//
//go:noescape
func dotQ6KAVX2x1(w *byte, nb int, act *q6kAct, tab *float32, out *float32)
