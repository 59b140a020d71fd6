package llama

import (
	"context"
	"errors"
	"fmt"
)

// DefaultLossChunk is how many scored positions share one logits matrix when a Workspace does not say: it
// bounds the loss's memory at DefaultLossChunk·Vocab floats (64 MiB at a 128k vocabulary) while keeping the
// output projection a sizable matrix product. A training pass scores more positions at once when their
// logits fit in the backward's gradient buffers, which are not in use yet while the loss is computed (at
// the 1B shape, batch 4 × 256, 255 positions in their 132 MiB): the logits then take no memory of
// their own, and an encoded output matrix is decoded fewer times.
const DefaultLossChunk = 128

// Workspace holds the buffers of training passes — every block's activations, the gradient buffers of the
// backward, one loss chunk's logits — and hands the same memory to the next call of LossAndGrad, so a
// training loop over batches of similar size allocates its activations once instead of every step. A
// buffer grows when a later batch is larger and is never shrunk. A Workspace is not safe for concurrent
// use; its zero value is ready to use.
type Workspace struct {
	// Recompute turns on per-block gradient checkpointing: the forward keeps only each block's input, and
	// the backward recomputes a block's internals just before back-propagating through it. The kept
	// activations fall from Layers sets of a block's internals to Layers residual rows plus one set, at the
	// cost of a second forward pass through the blocks. Gradients are the same bit for bit.
	Recompute bool
	// LossChunk is how many scored positions get their logits at once (0: DefaultLossChunk, or as many as
	// the backward's buffers hold, see DefaultLossChunk). The whole
	// positions × vocabulary logits never exist together: each chunk's logits become its loss and its
	// gradients and are overwritten by the next chunk's.
	LossChunk int

	slots [][]float32 // buffers in the order a pass asks for them
	next  int         // the slot the next request gets
}

// begin starts a pass: its requests get the slots from the first on.
func (w *Workspace) begin() { w.next = 0 }

// floats returns n zeroed floats. With a nil Workspace it allocates; otherwise it reuses the slot this
// request had in the previous pass, growing it (with some headroom, so slowly growing batches do not
// reallocate every step) when it is too small.
func (w *Workspace) floats(n int) []float32 {
	if w == nil {
		return make([]float32, n)
	}
	if w.next == len(w.slots) {
		w.slots = append(w.slots, nil)
	}
	s := w.slots[w.next]
	fresh := cap(s) < n
	if fresh {
		s = make([]float32, n, n+n/8) // zeroed by make (and untouched: the pages are faulted in by their first use)
	}
	w.next++
	s = s[:n]
	w.slots[w.next-1] = s
	if !fresh {
		clear(s)
	}
	return s
}

// used returns the bytes the last pass asked for.
func (w *Workspace) used() int64 {
	var b int64
	for _, s := range w.slots[:w.next] {
		b += int64(len(s)) * 4
	}
	return b
}

// Bytes returns the memory the workspace holds now.
func (w *Workspace) Bytes() int64 {
	var b int64
	for _, s := range w.slots {
		b += int64(cap(s)) * 4
	}
	return b
}

// lossChunkSetting returns the LossChunk setting (0 for a nil Workspace).
func (w *Workspace) lossChunkSetting() int {
	if w == nil {
		return 0
	}
	return w.LossChunk
}

// LossAndGrad returns the summed negative log-likelihood of the scored tokens of seqs (Tokens[i] for every
// i >= Start) and how many tokens were scored. It accumulates the gradient of that sum into the Grad buffers
// of the adapter's tensors (when a is not nil) and of the base tensors (when trainBase; their Grad buffers are
// allocated on first use). The caller zeroes gradients and divides by the token count as it sees fit.
//
// The sequences are packed into one batch: every projection runs as one matrix product over all their tokens,
// and attention runs per sequence and head in parallel. LossAndGrad must not run concurrently with itself.
func (m *Model) LossAndGrad(ctx context.Context, seqs []Sequence, a *Adapter, trainBase bool) (lossSum float64, nTokens int, err error) {
	return new(Workspace).LossAndGrad(ctx, m, seqs, a, trainBase)
}

// LossAndGrad is Model.LossAndGrad with its buffers taken from w, as w's Recompute and LossChunk ask. The
// buffers are reused by the next call, so nothing a pass computes survives it.
func (w *Workspace) LossAndGrad(ctx context.Context, m *Model, seqs []Sequence, a *Adapter, trainBase bool) (lossSum float64, nTokens int, err error) {
	if len(seqs) == 0 {
		return 0, 0, errors.New("llama: loss and grad: no sequences")
	}
	toks := make([][]int32, len(seqs))
	all := 0
	for i, s := range seqs {
		if s.Start < 1 || s.Start >= len(s.Tokens) {
			return 0, 0, fmt.Errorf("llama: loss and grad: sequence %d: start %d outside [1, %d)", i, s.Start, len(s.Tokens))
		}
		toks[i] = s.Tokens
		all += len(s.Tokens)
	}
	packed := make([]int32, 0, all)
	for _, s := range seqs {
		packed = append(packed, s.Tokens...)
	}
	grads := a != nil || trainBase
	p, err := m.newPass(toks, a, grads)
	if err != nil {
		return 0, 0, fmt.Errorf("llama: loss and grad: %w", err)
	}
	w.begin()
	p.ws = w
	p.recompute = grads && w.Recompute
	if trainBase {
		m.EnableGrad()
	}
	if err := p.run(ctx, packed); err != nil {
		return 0, 0, fmt.Errorf("llama: loss and grad: %w", err)
	}
	rows := make([]int, 0, all)
	targets := make([]int32, 0, all)
	for i, s := range seqs {
		for j := s.Start; j < len(s.Tokens); j++ {
			rows = append(rows, p.segs[i].off+j-1)
			targets = append(targets, s.Tokens[j])
		}
	}
	if !grads {
		return p.score(rows, targets, nil, false, nil), len(rows), nil
	}
	d := m.Config.Dim
	dxnF := p.alloc(p.n * d)
	b := newBackState(p, trainBase)
	loss := p.score(rows, targets, dxnF, trainBase, b.buf) // the loss's chunks borrow the backward's buffers
	dx := b.dx
	clear(dx)
	rmsNormBackward(dx, b.grad(m.outNorm), dxnF, p.xL, p.invF, m.outNorm.Data, p.n, d)
	var redo layerActs // with Recompute: one block's internals, recomputed block by block
	if p.recompute {
		redo = p.newActs(true)
	}
	for l := len(m.layers) - 1; l >= 0; l-- {
		if err := ctx.Err(); err != nil {
			return 0, 0, fmt.Errorf("llama: loss and grad: %w", err)
		}
		la := &redo
		if p.recompute {
			la.x = p.inputs[l]
			p.block(l, la)
		} else {
			la = &p.acts[l]
		}
		b.block(l, dx, la)
	}
	if trainBase {
		g := m.tokEmbd.Grad
		es := m.Config.embedScale()
		for i, t := range packed {
			row := g[int(t)*d:][:d]
			for j, v := range dx[i*d : (i+1)*d] {
				row[j] += v * es
			}
		}
	}
	return loss, len(rows), nil
}

// alloc returns n zeroed floats from the pass's workspace, or newly allocated without one.
func (p *pass) alloc(n int) []float32 { return p.ws.floats(n) }
