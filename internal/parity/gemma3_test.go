package parity_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
)

// TestGemma3Parity checks a gemma3 text model (tinymodel.Gemma3Config: six blocks, five of them attending
// through a window of 16 positions, which the prompts and continuations outgrow, so Ollama's sliding-window
// cache wraps; gemma's real SentencePiece vocabulary) against Ollama's own engine on v0.17.4: on the F16
// file and on Ollama's Q8_0 and Q4_K_M quantizations of it, greedy continuations must equal ours exactly,
// computing as the engine does (llama.RunnerFlash). They stop at EOS and <end_of_turn>, the engine's
// end-of-sequence set for this file (weights.Model.EOG).
func TestGemma3Parity(t *testing.T) {
	ollamatest.RequireVersion(t, engineVersion, "gemma3 runs on Ollama's own engine, checked on v0.17.4")
	if testing.Short() {
		t.Skip("about a minute against Ollama (a 256,000-token vocabulary)")
	}
	c := ollamatest.Client(t)
	path := filepath.Join(t.TempDir(), "gemma3-f16.gguf")
	if _, _, err := tinymodel.WriteGemma3(context.Background(), path, 51, 0.15, gguf.TypeF16); err != nil {
		t.Fatal(err)
	}
	base := create(t, c, path, ollama.CreateOptions{Template: "{{ .Prompt }}"})
	m, err := weights.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("architecture", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		ms, err := c.ListPrefix(ctx, base.model)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 1 || ms[0].Family != llama.ArchGemma3 {
			t.Errorf("server lists %+v, want family gemma3", ms)
		}
	})
	for _, tt := range []struct {
		quant string
		main  gguf.Type // the type of attn_output as stored
	}{
		{"", gguf.TypeF16},
		{"q8_0", gguf.TypeQ8_0},
		{"q4_K_M", gguf.TypeQ4_K},
	} {
		name := tt.quant
		if name == "" {
			name = "f16"
		}
		t.Run(name, func(t *testing.T) {
			s, qm := base, m
			if tt.quant != "" {
				q := quantizeAs(t, c, path, tt.quant, "blk.0.attn_output.weight", tt.main)
				s, qm = q.served, q.m
			}
			qm.Precision = runner(t)
			if !slices.ContainsFunc(qm.EOG, func(id int32) bool { return qm.Tokenizer.Token(id) == "<end_of_turn>" }) {
				t.Fatalf("end-of-generation set %v lacks <end_of_turn>", qm.EOG)
			}
			engineParity(t, s, qm)
		})
	}
}
