package llama

import (
	"context"
	"fmt"
	"testing"
)

// TestEstimateMatchesWorkspace checks EstimateMemory's activations and logits against what a pass really
// asks of its workspace, for every architecture, with and without recomputation, for a LoRA and for the
// whole base.
func TestEstimateMatchesWorkspace(t *testing.T) {
	seqs := []Sequence{{Tokens: make([]int32, 20), Start: 1}, {Tokens: make([]int32, 12), Start: 1}}
	for name, c := range archVariants() {
		for _, recompute := range []bool{false, true} {
			for _, base := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/recompute=%v/base=%v", name, recompute, base), func(t *testing.T) {
					m := newTinyConfig(t, c, 3)
					lora := LoRAConfig{Rank: 2, Alpha: 4, Targets: []string{"attn_q", "v_proj", "ffn_down"}}
					var a *Adapter
					if !base {
						var err error
						if a, err = NewAdapter(m, lora, 1); err != nil {
							t.Fatal(err)
						}
					} else {
						lora = LoRAConfig{}
					}
					ws := &Workspace{Recompute: recompute, LossChunk: 8}
					if _, _, err := ws.LossAndGrad(context.Background(), m, seqs, a, base); err != nil {
						t.Fatal(err)
					}
					e := m.EstimateMemory(StepShape{Tokens: 32, Longest: 20, LoRA: lora, TrainBase: base,
						Recompute: recompute, LossChunk: 8})
					if got := e.Activations + e.Logits; got != ws.used() {
						t.Errorf("estimate %d bytes of activations and logits, the pass used %d", got, ws.used())
					}
					if c.numParams() != int64(m.NumParams()) {
						t.Errorf("Config.numParams %d, the model has %d", c.numParams(), m.NumParams())
					}
					if e.Weights != int64(m.NumParams()+len(m.consts)*m.headDim/2)*4 {
						t.Errorf("weights %d bytes for %d parameters", e.Weights, m.NumParams())
					}
				})
			}
		}
	}
}

// TestPlanMemory checks that PlanMemory turns recomputation on exactly when the step does not fit without
// it, and refuses a limit that nothing fits.
func TestPlanMemory(t *testing.T) {
	m := newTiny(t, false, 1)
	s := StepShape{Tokens: 64, Longest: 32, LoRA: LoRAConfig{Rank: 4, Targets: linearNames[:]}}
	s.Recompute = false
	plain := m.EstimateMemory(s)
	s.Recompute = true
	rec := m.EstimateMemory(s)
	if rec.Activations >= plain.Activations {
		t.Fatalf("recomputation keeps %d bytes of activations, not fewer than %d", rec.Activations, plain.Activations)
	}
	tests := []struct {
		limit         int64
		wantRecompute bool
		wantErr       bool
	}{
		{0, true, false}, // no limit: as asked
		{plain.Total(), false, false},
		{plain.Total() - 1, true, false},
		{rec.Total(), true, false},
		{rec.Total() - 1, true, true},
	}
	for _, tt := range tests {
		got, e, err := m.PlanMemory(s, tt.limit)
		if (err != nil) != tt.wantErr || got.Recompute != tt.wantRecompute || e.Recompute != got.Recompute {
			t.Errorf("limit %d: recompute %v, err %v; want %v, error %v", tt.limit, got.Recompute, err, tt.wantRecompute, tt.wantErr)
		}
	}
}
