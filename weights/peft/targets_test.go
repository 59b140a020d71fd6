package peft_test

import (
	"strings"
	"testing"

	"github.com/fastslow/fastslow/internal/hffixture"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/peft"
)

// TestTargetForms imports the llama fixture's tensors described by the other forms PEFT allows for
// target_modules (a regular expression over full module names, "all-linear") and with layers_to_transform:
// the adapter keeps the listed layers' matrices and leaves the others zero; a config and tensors that
// disagree are refused.
func TestTargetForms(t *testing.T) {
	f, err := hffixture.Load(llama.ArchLlama)
	if err != nil {
		t.Fatal(err)
	}
	full, cfg, err := peft.Load(f.AdapterDir, f.Model)
	if err != nil {
		t.Fatal(err)
	}
	_, tensors, err := peft.ToTensors(full, f.Model, peft.SaveOptions{Config: &cfg})
	if err != nil {
		t.Fatal(err)
	}
	only := func(keep func(name string) bool) map[string]peft.Tensor {
		out := map[string]peft.Tensor{}
		for n, x := range tensors {
			if keep(n) {
				out[n] = x
			}
		}
		return out
	}
	layer1QV := only(func(n string) bool {
		return strings.Contains(n, "layers.1.") && (strings.Contains(n, "q_proj") || strings.Contains(n, "v_proj"))
	})
	for _, tc := range []struct {
		name    string
		targets peft.TargetModules
		layers  peft.Layers
		tensors map[string]peft.Tensor
		want    string // error, or "" to import
		params  int    // non-zero matrices expected
	}{
		{"all-linear", peft.TargetModules{Pattern: "all-linear"}, nil, tensors, "", 28},
		{"pattern", peft.TargetModules{Pattern: `.*\.(q_proj|v_proj)`}, peft.Layers{1}, layer1QV, "", 4},
		{"list and layers", peft.TargetModules{List: []string{"q_proj", "v_proj"}}, peft.Layers{1}, layer1QV, "", 4},
		{"pattern misses a tensor", peft.TargetModules{Pattern: `.*\.q_proj`}, peft.Layers{1}, layer1QV, "v_proj of layer 1, which target_modules", 0},
		{"layer without tensors", peft.TargetModules{List: []string{"q_proj", "v_proj"}}, nil, layer1QV, "q_proj of layer 0 is targeted but has no tensors", 0},
		{"layer beyond the base", peft.TargetModules{List: []string{"q_proj", "v_proj"}}, peft.Layers{1, 5}, layer1QV, "layers_to_transform names layer 5", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			c.TargetModules, c.LayersToTransform = tc.targets, tc.layers
			a, err := peft.FromTensors(c, tc.tensors, f.Model)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			nonzero := 0
			for _, p := range a.Params() {
				for _, x := range p.Data {
					if x != 0 {
						nonzero++
						break
					}
				}
			}
			if nonzero != tc.params {
				t.Errorf("%d non-zero matrices, want %d", nonzero, tc.params)
			}
		})
	}
}
