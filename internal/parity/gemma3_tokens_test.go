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
	"github.com/fastslow/fastslow/weights/tokenizer"
)

// gemmaTexts are prompts in gemma's chat format and texts that exercise the SentencePiece rules (spaces,
// runs of newlines and spaces, byte fallback, special-token texts), on top of flavorTexts.
var gemmaTexts = []string{
	"<start_of_turn>user\nWhy is the sky blue?<end_of_turn>\n<start_of_turn>model\n",
	"<start_of_turn>user\nTranslate \"naïve café\" to German.<end_of_turn>\n<start_of_turn>model\nNaives Café<end_of_turn>\n",
	"  leading spaces,\n\n\n three newlines and\ttabs\t\there   ",
	"Emoji 👋🏽👨‍👩‍👧 and rare characters: 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ꙮ 𓀀",
	"<table><tr><td>1</td></tr></table> <h1>title</h1>",
	"<bos>twice<eos> and <pad> inside",
}

// TestGemma3TokenCounts: a gemma3 model with gemma's real SentencePiece vocabulary, written by the project
// (F16) and served by Ollama's own engine: our token count of every text equals the server's
// prompt_eval_count, and the end-of-generation set is the engine's (EOS and <end_of_turn>).
func TestGemma3TokenCounts(t *testing.T) {
	ollamatest.RequireVersion(t, engineVersion, "gemma3 runs on Ollama's own engine, checked on v0.17.4")
	if testing.Short() {
		t.Skip("writes a 130 MB model")
	}
	c := ollamatest.Client(t)
	path := filepath.Join(t.TempDir(), "gemma3-f16.gguf")
	if _, _, err := tinymodel.WriteGemma3(context.Background(), path, 43, 0.05, gguf.TypeF16); err != nil {
		t.Fatal(err)
	}
	m, err := weights.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Tokenizer.(*tokenizer.SPM); !ok {
		t.Fatalf("tokenizer is %T, want *tokenizer.SPM", m.Tokenizer)
	}
	eot := m.Tokenizer.Encode("<end_of_turn>", false)
	if want := []int32{m.Tokenizer.EOS(), eot[0]}; len(eot) != 1 || !slices.Equal(m.EOG, want) {
		t.Errorf("EOG = %v, want %v (EOS and <end_of_turn>, which Save names as the EOT token for Ollama's gemma3)", m.EOG, want)
	}
	s := create(t, c, path, ollama.CreateOptions{Template: "{{ .Prompt }}"})
	tokenCountsOf(t, s, m, append(flavorTexts(t), gemmaTexts...))
}
