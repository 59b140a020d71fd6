package parity_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

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
	m := load(t, path)
	t.Run("architecture", func(t *testing.T) { base.checkFamily(t, llama.ArchGemma3) })
	engineQuants(t, path, base, m, "blk.0.attn_output.weight", func(t *testing.T, s served, qm *weights.Model) {
		if !slices.ContainsFunc(qm.EOG, func(id int32) bool { return qm.Tokenizer.Token(id) == "<end_of_turn>" }) {
			t.Fatalf("end-of-generation set %v lacks <end_of_turn>", qm.EOG)
		}
		engineParity(t, s, qm)
	})
}
