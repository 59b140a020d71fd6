package train

import (
	"context"
	"errors"

	"github.com/fastslow/fastslow/weights/llama"
)

// LoRAObjective trains the tensors of adapter a on model m, whose base weights stay frozen. Its activation
// buffers are allocated once and reused from step to step.
func LoRAObjective(m *llama.Model, a *llama.Adapter) Objective {
	return LoRAObjectiveIn(m, a, nil)
}

// LoRAObjectiveIn is LoRAObjective with its buffers in ws (nil: a new workspace), whose Recompute and
// LossChunk choose how much memory a step takes.
func LoRAObjectiveIn(m *llama.Model, a *llama.Adapter, ws *llama.Workspace) Objective {
	if ws == nil {
		ws = new(llama.Workspace)
	}
	return &loraObjective{m: m, a: a, ws: ws}
}

type loraObjective struct {
	m  *llama.Model
	a  *llama.Adapter
	ws *llama.Workspace
}

func (o *loraObjective) Params() []*llama.Param {
	if o.a == nil {
		return nil
	}
	return o.a.Params()
}

func (o *loraObjective) LossAndGrad(ctx context.Context, batch []llama.Sequence) (float64, int, error) {
	if o.m == nil || o.a == nil {
		return 0, 0, errors.New("train: LoRA objective needs a model and an adapter")
	}
	return o.ws.LossAndGrad(ctx, o.m, batch, o.a, false)
}

// FullObjective trains every base tensor of m, as pretraining a small model does. Its activation buffers
// are allocated once and reused from step to step.
func FullObjective(m *llama.Model) Objective {
	return &fullObjective{m: m, ws: new(llama.Workspace)}
}

type fullObjective struct {
	m  *llama.Model
	ws *llama.Workspace
}

func (o *fullObjective) Params() []*llama.Param {
	if o.m == nil {
		return nil
	}
	o.m.EnableGrad()
	return o.m.Tensors()
}

func (o *fullObjective) LossAndGrad(ctx context.Context, batch []llama.Sequence) (float64, int, error) {
	if o.m == nil {
		return 0, 0, errors.New("train: full objective needs a model")
	}
	return o.ws.LossAndGrad(ctx, o.m, batch, nil, true)
}
