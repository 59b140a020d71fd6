package llama

import (
	"fmt"
	"math/bits"
	"runtime"
)

// StepShape describes a training step for EstimateMemory: the batch's tokens, the adapter and the workspace
// settings.
type StepShape struct {
	// Tokens is the number of tokens of the largest batch (every sequence of one LossAndGrad call, context
	// included); Longest is the longest sequence's length (attention's buffers grow with its square).
	Tokens, Longest int
	// LoRA is the adapter's shape; a zero Rank means no adapter.
	LoRA LoRAConfig
	// TrainBase is set when the base tensors are trained too (their gradients and moments count then).
	TrainBase bool
	// Recompute and LossChunk are the Workspace settings.
	Recompute bool
	LossChunk int
}

// MemoryEstimate is what a training step takes, by part, in bytes.
type MemoryEstimate struct {
	Weights     int64 // the base tensors as the model holds them (WeightBytes)
	Trained     int64 // the trained tensors' gradients and AdamW's two moments (and the adapter's own values)
	Activations int64 // what the forward keeps for the backward, and the backward's buffers
	Logits      int64 // one loss chunk: its logits (twice under a softcap), inputs and input gradients, when they do not fit in the backward's buffers (else 0)
	Scratch     int64 // the products' packed operands and attention's per-worker buffers
	Runtime     int64 // the Go runtime and not yet collected garbage: a fixed RuntimeBytes
	Recompute   bool  // the estimate is for per-block recomputation
}

// RuntimeBytes is the allowance of every MemoryEstimate for the Go runtime's own memory and the garbage a
// step leaves until it is collected (scratch buffers dropped from their pools, say): peak resident memory
// measured above a process's start exceeded the other parts by 15–20 MiB on a small model
// (weights/train TestEstimateVsRSS).
const RuntimeBytes = 16 << 20

// Total returns the sum of the parts.
func (e MemoryEstimate) Total() int64 {
	return e.Weights + e.Trained + e.Activations + e.Logits + e.Scratch + e.Runtime
}

// String writes the parts and the total in MiB, and whether blocks are recomputed.
func (e MemoryEstimate) String() string {
	mib := func(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
	rec := "off"
	if e.Recompute {
		rec = "on"
	}
	return fmt.Sprintf("weights %s + trained %s + activations %s + logits %s + scratch %s + runtime %s = %s (recompute %s)",
		mib(e.Weights), mib(e.Trained), mib(e.Activations), mib(e.Logits), mib(e.Scratch), mib(e.Runtime), mib(e.Total()), rec)
}

// WeightBytes returns the memory the base tensors take as the model holds them: their float32 values and
// any quantized forms kept for inference (SetQuantized).
func (m *Model) WeightBytes() int64 {
	var b int64
	for _, p := range append(m.params[:len(m.params):len(m.params)], m.consts...) {
		b += int64(len(p.Data)) * 4
	}
	for _, q := range m.quant {
		b += int64(len(q.raw))
	}
	return b
}

// EstimateMemory returns what one training step of shape s takes: the buffers LossAndGrad asks of its
// Workspace (counted exactly), the trained values with their gradients and moments, the base weights and
// the scratch memory of the matrix products, and RuntimeBytes for the Go runtime.
func (m *Model) EstimateMemory(s StepShape) MemoryEstimate {
	return EstimateMemory(m.Config, m.WeightBytes(), s)
}

// EstimateMemory is Model.EstimateMemory for a model of shape c whose weights take weightBytes, without
// the model: for sizes this machine cannot hold, or weights in another encoding than the model in hand.
// The trained base (StepShape.TrainBase) counts c's parameters.
func EstimateMemory(c Config, weightBytes int64, s StepShape) MemoryEstimate {
	n := int64(s.Tokens)
	e := MemoryEstimate{Weights: weightBytes, Runtime: RuntimeBytes, Recompute: s.Recompute}
	rank, targets := 0, 0
	if s.LoRA.Rank > 0 {
		rank = s.LoRA.Rank
		var on [7]bool
		for _, t := range s.LoRA.Targets {
			if i := targetIndex(t); i >= 0 && !on[i] {
				on[i] = true
				targets++
				in, out := c.linearShape(i)
				e.Trained += int64(c.Layers) * int64(rank*(in+out)) * 4 * 4 // A and B: values, gradients, m, v
			}
		}
	}
	if s.TrainBase {
		e.Trained += c.numParams() * 3 * 4 // gradients, m, v
	}
	grads := rank > 0 || s.TrainBase

	d, q, kv, f := int64(c.Dim), int64(c.QDim()), int64(c.KVHeads*c.HeadDim()), int64(c.Hidden)
	h, kvh := int64(c.Heads), int64(c.KVHeads)
	// Floats per token of one block's activations, as newActs allocates them.
	acts := func(keep bool) int64 {
		v := 2 + 2*d + 2*q + 2*kv + 3*f + int64(rank*targets)
		if c.qkNorm() {
			v += h + kvh
		}
		if c.gemma() {
			v += 2
		}
		if keep {
			v += 2*h + 2*d
			if c.qkNorm() {
				v += q + kv
			}
			if c.gemma() {
				v += 2 * d
			}
		}
		return v
	}
	run := max(d, f) + d + 1 + d // pass.tmp, the residual, the output norm's inverse RMS and result
	var perToken int64
	switch {
	case !grads:
		perToken = run + acts(false)
	case s.Recompute:
		perToken = run + acts(false) + int64(c.Layers)*d + acts(true)
	default:
		perToken = run + int64(c.Layers)*acts(true)
	}
	var back int64 // the backward's buffers, which the loss's chunks borrow when they fit
	if grads {
		back = int64(backFloats(c, int(q), int(kv), rank)) * n
		perToken += d // dxnF
	}
	e.Activations = perToken*n*4 + back*4

	perRow := 2*d + int64(c.Vocab)
	if grads && c.FinalLogitSoftcap > 0 {
		perRow += int64(c.Vocab)
	}
	chunk, borrow := scoreChunk(s.LossChunk, int(n), int(perRow), int(back))
	if !borrow {
		e.Logits = int64(min(chunk, int(n))) * perRow * 4
	}

	// A product packs its second operand whole (the output matrix in blocks) into a pooled buffer of a power
	// of two floats; each size class in use stays in its pool. Attention takes a buffer per worker that
	// grows with the square of the sequence.
	e.Scratch = scratchBytes(c, s, rank, chunk)
	return e
}

// scratchBytes returns the pooled scratch memory of a training step: one buffer per size class of what its
// matrix products copy (packed operands, transposed results; see packs), and attention's per-worker buffers.
func scratchBytes(c Config, s StepShape, rank, lossChunk int) int64 {
	classes := map[int64]bool{}
	add := func(sizes ...int) {
		for _, n := range sizes {
			if n > 0 {
				classes[1<<bits.Len64(uint64(n-1))] = true
			}
		}
	}
	targeted := [7]bool{}
	for _, t := range s.LoRA.Targets {
		if i := targetIndex(t); i >= 0 && rank > 0 {
			targeted[i] = true
		}
	}
	T := s.Tokens
	for i := range linearNames {
		in, out := c.linearShape(i)
		if targeted[i] {
			add(packs(T, out, in+rank, false)...) // the projection and its LoRA branch, one product
			add(packs(T, rank, in, false)...)     // A·x
			add(packs(out, rank, T, true)...)     // B's gradient
			add(packs(T, rank, out, false)...)    // the branch's input gradient
			add(packs(rank, in, T, true)...)      // A's gradient
			add(packs(T, in, out+rank, false)...) // the input gradient of both
		} else {
			add(packs(T, out, in, false)...)
			add(packs(T, in, out, false)...)
		}
	}
	chunk := min(lossChunk, T)
	rows := min(outBlockRows(c.Dim), c.Vocab)
	add(packs(chunk, rows, c.Dim, false)...)
	add(packs(chunk, c.Dim, rows, false)...)
	var b int64
	for size := range classes {
		b += size
	}
	L, hd := s.Longest, c.HeadDim()
	b += int64(runtime.GOMAXPROCS(0)) * (1 << bits.Len64(uint64(10*L*hd+3*L*L-1)))
	return b * 4
}

// packs returns the sizes in floats of the scratch buffers sgemm takes for C[m][n] = op(A)·op(B) with inner
// dimension k, following its dispatch (sgemmBand): dot products for few columns, a transposed product for
// few columns or few rows against many, else a packed op(B).
func packs(m, n, k int, tA bool) []int {
	nr := kernel.nr
	pad := func(x int) int { return (x + nr - 1) / nr * nr }
	switch {
	case 2*n <= nr && m > n && !tA:
		return nil
	case 2*n <= nr && m > n, m >= nr && 4*m <= n:
		return append([]int{n * m}, packs(n, m, k, false)...)
	}
	return []int{pad(n) * k}
}

// PlanMemory returns the step shape s with Recompute chosen for limit bytes: off when the step fits without
// it, else on; and the estimate of that choice. A step that does not fit even with recomputation is an
// error that states the estimate. A limit of 0 or less means none (Recompute as s says).
func (m *Model) PlanMemory(s StepShape, limit int64) (StepShape, MemoryEstimate, error) {
	if limit <= 0 {
		return s, m.EstimateMemory(s), nil
	}
	s.Recompute = false
	if e := m.EstimateMemory(s); e.Total() <= limit {
		return s, e, nil
	}
	s.Recompute = true
	e := m.EstimateMemory(s)
	if e.Total() > limit {
		return s, e, fmt.Errorf("llama: a training step needs about %.0f MiB even with recomputation (%v), over the limit of %.0f MiB; use smaller batches or shorter sequences",
			float64(e.Total())/(1<<20), e, float64(limit)/(1<<20))
	}
	return s, e, nil
}

// linearShape returns the inputs and outputs of projection i of linearNames in a block of shape c.
func (c Config) linearShape(i int) (in, out int) {
	d, q, kv := c.Dim, c.QDim(), c.KVHeads*c.HeadDim()
	switch linearNames[i] {
	case "attn_q":
		return d, q
	case "attn_k", "attn_v":
		return d, kv
	case "attn_output":
		return q, d
	case "ffn_down":
		return c.Hidden, d
	}
	return d, c.Hidden // ffn_gate, ffn_up
}

// numParams returns the trained values of a model of shape c, as Model.NumParams counts them.
func (c Config) numParams() int64 {
	d, q, kv, f, hd := int64(c.Dim), int64(c.QDim()), int64(c.KVHeads*c.HeadDim()), int64(c.Hidden), int64(c.HeadDim())
	block := 2*d + d*q + 2*d*kv + q*d + 3*d*f
	if c.qkvBias() {
		block += q + 2*kv
	}
	if c.qkNorm() {
		block += 2 * hd
	}
	if c.gemma() {
		block += 2 * d
	}
	n := int64(c.Vocab)*d + d + int64(c.Layers)*block
	if !c.TiedOutput {
		n += int64(c.Vocab) * d
	}
	return n
}
