package train

import (
	"context"
	"errors"

	"github.com/fastslow/fastslow/weights/llama"
)

// LoRAObjective trains the tensors of adapter a on model m, whose base weights stay frozen.
func LoRAObjective(m *llama.Model, a *llama.Adapter) Objective {
	return &loraObjective{m: m, a: a}
}

type loraObjective struct {
	m *llama.Model
	a *llama.Adapter
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
	return o.m.LossAndGrad(ctx, batch, o.a, false)
}

// FullObjective trains every base tensor of m, as pretraining a small model does.
func FullObjective(m *llama.Model) Objective {
	return &fullObjective{m: m}
}

type fullObjective struct{ m *llama.Model }

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
	return o.m.LossAndGrad(ctx, batch, nil, true)
}
