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
	Logits      int64 // one loss chunk: its logits (twice under a softcap), inputs and input gradients
	Scratch     int64 // the products' packed operands and attention's per-worker buffers
	Recompute   bool  // the estimate is for per-block recomputation
}

// Total returns the sum of the parts.
func (e MemoryEstimate) Total() int64 {
	return e.Weights + e.Trained + e.Activations + e.Logits + e.Scratch
}

// String writes the parts and the total in MiB, and whether blocks are recomputed.
func (e MemoryEstimate) String() string {
	mib := func(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
	rec := "off"
	if e.Recompute {
		rec = "on"
	}
	return fmt.Sprintf("weights %s + trained %s + activations %s + logits %s + scratch %s = %s (recompute %s)",
		mib(e.Weights), mib(e.Trained), mib(e.Activations), mib(e.Logits), mib(e.Scratch), mib(e.Total()), rec)
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
// the scratch memory of the matrix products. The Go runtime's own memory and garbage not yet collected
// come on top (tens of MiB).
func (m *Model) EstimateMemory(s StepShape) MemoryEstimate {
	c := m.Config
	n := int64(s.Tokens)
	e := MemoryEstimate{Weights: m.WeightBytes(), Recompute: s.Recompute}
	rank, targets := 0, 0
	if s.LoRA.Rank > 0 {
		rank = s.LoRA.Rank
		var on [7]bool
		for _, t := range s.LoRA.Targets {
			if i := targetIndex(t); i >= 0 && !on[i] {
				on[i] = true
				targets++
				in, out := m.layers[0].linear(linearNames[i]).Shape[0], m.layers[0].linear(linearNames[i]).Shape[1]
				e.Trained += int64(c.Layers) * int64(rank*(in+out)) * 4 * 4 // A and B: values, gradients, m, v
			}
		}
	}
	if s.TrainBase {
		e.Trained += int64(m.NumParams()) * 3 * 4 // gradients, m, v
	}
	grads := rank > 0 || s.TrainBase

	d, q, kv, f := int64(c.Dim), int64(m.qDim), int64(m.kvDim), int64(c.Hidden)
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
	if grads {
		perToken += 2*d + 3*f + d + 2*q + 2*kv + int64(rank) // dxnF, dx; the backward's buffers
		if c.qkNorm() {
			perToken += q + kv
		}
		if c.gemma() {
			perToken += d
		}
	}
	e.Activations = perToken * n * 4

	chunk := int64(DefaultLossChunk)
	if s.LossChunk > 0 {
		chunk = int64(s.LossChunk)
	}
	chunk = min(chunk, n)
	vocab := int64(c.Vocab)
	logits := chunk * (2*d + vocab)
	if grads && c.FinalLogitSoftcap > 0 {
		logits += chunk * vocab
	}
	e.Logits = logits * 4

	// A product packs its second operand whole (the output matrix in blocks), in pooled buffers of a power
	// of two floats; attention takes a buffer per worker that grows with the square of the sequence.
	pow2 := func(x int64) int64 { return 1 << bits.Len64(uint64(x-1)) }
	largest := max(f*d, q*d, kv*d) + int64(rank)*max(d, f)
	outBlock := int64(min(outBlockRows(c.Dim), c.Vocab)) * d
	L, hd := int64(s.Longest), int64(m.headDim)
	attn := 5*L*hd + 5*L*hd + 3*L*L
	e.Scratch = (pow2(largest) + pow2(outBlock) + int64(runtime.GOMAXPROCS(0))*pow2(attn)) * 4
	return e
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
