package lab

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/train"
)

// Training helpers shared by the reversibility experiments (spurious, cyclic, capacity). They train weights
// directly in the in-process engine: these experiments probe what the weights hold, not how they are served.

// cloneAdapter returns a copy of a for m with its own parameters, so one trained state can branch into
// several continuations.
func cloneAdapter(m *llama.Model, a *llama.Adapter) (*llama.Adapter, error) {
	c, err := llama.NewAdapter(m, a.Config, 0)
	if err != nil {
		return nil, err
	}
	src, dst := a.Params(), c.Params()
	if len(src) != len(dst) {
		return nil, fmt.Errorf("clone adapter: %d parameters, copy has %d", len(src), len(dst))
	}
	for i := range src {
		copy(dst[i].Data, src[i].Data)
	}
	return c, nil
}

// blockOf returns the block index of a parameter named "blk.N.…", or −1 for any other name (embeddings,
// final norm).
func blockOf(name string) int {
	rest, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(rest[:max(strings.IndexByte(rest, '.'), 0)])
	if err != nil {
		return -1
	}
	return n
}

// freezeLower wraps obj so the parameters of blocks below n get no gradient. With a zero gradient from the
// start of a run AdamW's moments stay zero and its update is exactly zero (weight decay is off in these
// runs), so those parameters do not move. It returns obj itself when n <= 0.
func freezeLower(obj train.Objective, n int) train.Objective {
	if n <= 0 {
		return obj
	}
	f := &frozenObjective{Objective: obj}
	for _, p := range obj.Params() {
		if b := blockOf(p.Name); b >= 0 && b < n {
			f.frozen = append(f.frozen, p)
		}
	}
	return f
}

type frozenObjective struct {
	train.Objective
	frozen []*llama.Param
}

func (f *frozenObjective) LossAndGrad(ctx context.Context, batch []llama.Sequence) (float64, int, error) {
	loss, n, err := f.Objective.LossAndGrad(ctx, batch)
	for _, p := range f.frozen {
		clear(p.Grad)
	}
	return loss, n, err
}

// snapshotBase copies every trainable base tensor of m and returns a function that puts them back: full
// fine-tuning trains the shared base model in place, and the lab must hand it back unchanged.
func snapshotBase(m *llama.Model) (restore func()) {
	ps := m.Tensors()
	saved := make([][]float32, len(ps))
	for i, p := range ps {
		saved[i] = append([]float32(nil), p.Data...)
	}
	return func() {
		for i, p := range ps {
			copy(p.Data, saved[i])
		}
	}
}

// fitOptions are the training settings every reversibility run shares: a constant learning rate after no
// warmup (a brief run should not spend its steps warming up) and gradient clipping at 1, as the slow channel
// trains.
func fitOptions(steps, batch int, lr float64, seed uint64) train.Options {
	return train.Options{Steps: steps, BatchSize: batch, LR: lr, Decay: train.DecayConstant, ClipNorm: 1, Seed: seed}
}

// fit trains obj on pairs for the given options; progress, if set, runs after every step.
func fit(ctx context.Context, m *weights.Model, obj train.Objective, pairs []weights.Pair, opt train.Options, progress func(train.Progress)) error {
	seqs, err := weights.Sequences(m, pairs)
	if err != nil {
		return err
	}
	if len(seqs) == 0 {
		return fmt.Errorf("fit: no examples")
	}
	_, err = train.Run(ctx, obj, seqs, opt, progress)
	return err
}
