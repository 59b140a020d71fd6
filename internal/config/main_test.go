package config

import (
	"errors"
	"os"
	"testing"
)

// testOwned stands in for the owners cmd/fastslow installs (the Ollama client and the learner), with the
// values they had when these tests were written; cmd/fastslow's tests check the real ones.
var testOwned = Owned{
	Defaults: Config{
		Host: "127.0.0.1:11434", NumCtx: 512, Policy: "fst", Rank: 8, Alpha: 16,
		Targets: []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"},
		Steps:   60, LR: 5e-3, Batch: 8, Budget: 0.05,
		Deploy: "auto", MergedType: "same", Keep: 3,
	},
	Policies:    []string{"fst", "weights", "prompts", "replay"},
	DeployModes: []string{"auto", "adapter", "merged"},
	MergedTypes: []string{"same", "f16", "f32"},
	CheckTargets: func(ts []string) error {
		for _, t := range ts {
			if t == "bogus" {
				return errors.New(`unknown target "bogus"`)
			}
		}
		return nil
	},
}

func TestMain(m *testing.M) {
	SetDefaults(testOwned)
	os.Exit(m.Run())
}
