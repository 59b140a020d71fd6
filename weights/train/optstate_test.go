package train

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/fastslow/fastslow/weights/llama"
)

// TestOptimizerCarriesOver checks that Result.Optimizer passed as the next run's Options.Optimizer makes
// several runs one training: 3 runs of 4 steps end with the adapter of one run of 12 steps, bit for bit,
// and with the same optimizer state; without carrying the state (a fresh AdamW per run, as the slow channel's
// rounds once did) the adapter differs. A run that starts from a carried state and is interrupted resumes
// from its checkpoint to the same result.
func TestOptimizerCarriesOver(t *testing.T) {
	data := countingData(1) // one sequence: every batch is the same, whatever the run's data order
	base := Options{BatchSize: 1, LR: 2e-2, Decay: DecayConstant, Seed: 1}
	newAdapter := func() (*llama.Model, *llama.Adapter) {
		m := tinyModel(t)
		a, err := llama.NewAdapter(m, llama.LoRAConfig{Rank: 2, Alpha: 4, Targets: []string{"attn_q", "ffn_up"}}, 1)
		if err != nil {
			t.Fatal(err)
		}
		return m, a
	}
	values := func(a *llama.Adapter) []float32 {
		var v []float32
		for _, p := range a.Params() {
			v = append(v, p.Data...)
		}
		return v
	}
	ctx := context.Background()

	m, a := newAdapter()
	opt := base
	opt.Steps = 12
	whole, err := Run(ctx, LoRAObjective(m, a), data, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := values(a)
	if whole.Optimizer == nil || whole.Optimizer.Step != 12 {
		t.Fatalf("result optimizer %+v, want step 12", whole.Optimizer)
	}

	for _, carry := range []bool{true, false} {
		m, a := newAdapter()
		var st *OptimizerState
		for range 3 {
			opt := base
			opt.Steps = 4
			if carry {
				opt.Optimizer = st
			}
			res, err := Run(ctx, LoRAObjective(m, a), data, opt, nil)
			if err != nil {
				t.Fatal(err)
			}
			st = res.Optimizer
		}
		same := slices.Equal(values(a), want)
		if same != carry {
			t.Errorf("carry %v: adapter equal to one 12-step run: %v", carry, same)
		}
		if carry {
			if st.Step != 12 {
				t.Errorf("carried state at step %d, want 12", st.Step)
			}
			for name, mom := range whole.Optimizer.M {
				if !slices.Equal(st.M[name], mom) || !slices.Equal(st.V[name], whole.Optimizer.V[name]) {
					t.Errorf("%s: carried moments differ from one run's", name)
				}
			}
		}
	}

	// 8 steps, then 4 from the carried state, interrupted after 2 and resumed from the checkpoint.
	m, a = newAdapter()
	opt = base
	opt.Steps = 8
	first, err := Run(ctx, LoRAObjective(m, a), data, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	opt.Steps, opt.Optimizer = 4, first.Optimizer
	opt.CheckpointPath = filepath.Join(t.TempDir(), "ckpt")
	boom := errors.New("interrupted")
	opt.Hook = func(_ context.Context, step int) error {
		if step == 2 {
			return boom
		}
		return nil
	}
	if _, err := Run(ctx, LoRAObjective(m, a), data, opt, nil); !errors.Is(err, boom) {
		t.Fatalf("interrupted run: %v", err)
	}
	opt.Hook = nil
	res, err := Run(ctx, LoRAObjective(m, a), data, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.ResumedFrom != 2 || res.Optimizer.Step != 12 || !slices.Equal(values(a), want) {
		t.Errorf("resumed from %d to optimizer step %d; adapter equal to one 12-step run: %v", res.ResumedFrom, res.Optimizer.Step, slices.Equal(values(a), want))
	}

	// A state of other parameters is refused before training.
	m, a = newAdapter()
	opt = base
	opt.Steps = 1
	opt.Optimizer = &OptimizerState{Step: 3, M: map[string][]float32{"x": {1}}, V: map[string][]float32{"x": {1}}}
	if _, err := Run(ctx, LoRAObjective(m, a), data, opt, nil); err == nil {
		t.Error("a state of other parameters was accepted")
	}
}
