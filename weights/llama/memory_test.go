package llama

import (
	"context"
	"fmt"
	"testing"
)

// TestEstimateMatchesWorkspace checks EstimateMemory's activations and logits against what a pass really
// asks of its workspace, for every architecture, with and without recomputation, for a LoRA and for the
// whole base, with the default loss chunk and a set one; a wide vocabulary makes the loss's buffers too
// large to borrow the backward's.
func TestEstimateMatchesWorkspace(t *testing.T) {
	seqs := []Sequence{{Tokens: make([]int32, 20), Start: 1}, {Tokens: make([]int32, 12), Start: 1}}
	variants := archVariants()
	wide := tinyConfig(true)
	wide.Vocab = 2000
	variants["wide vocabulary"] = wide
	for name, c := range variants {
		for _, tc := range []struct {
			recompute, base bool
			chunk           int
		}{{false, false, 8}, {false, true, 8}, {true, false, 8}, {true, true, 8}, {false, false, 0}, {true, true, 0}} {
			recompute, base := tc.recompute, tc.base
			t.Run(fmt.Sprintf("%s/recompute=%v/base=%v/chunk=%d", name, recompute, base, tc.chunk), func(t *testing.T) {
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
				ws := &Workspace{Recompute: recompute, LossChunk: tc.chunk}
				if _, _, err := ws.LossAndGrad(context.Background(), m, seqs, a, base); err != nil {
					t.Fatal(err)
				}
				e := m.EstimateMemory(StepShape{Tokens: 32, Longest: 20, LoRA: lora, TrainBase: base,
					Recompute: recompute, LossChunk: tc.chunk})
				// A chunk larger than the scored rows (30) is counted at the tokens' count (32): the
				// estimate does not know the rows, and is then larger by two rows of logits.
				slack := int64(0)
				if tc.chunk == 0 && e.Logits > 0 {
					slack = 2 * int64(2*c.Dim+c.Vocab) * 4
				}
				if got := e.Activations + e.Logits; got != ws.used()+slack {
					t.Errorf("estimate %d bytes of activations and logits, the pass used %d (+ %d)", got, ws.used(), slack)
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
