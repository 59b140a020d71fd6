package parity_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/tokenizer"
)

// TestSmolLMTokenCounts: a llama model whose byte-level BPE uses the smollm pre-tokenizer (each digit its
// own word, then GPT-2's pattern), served by llama.cpp on every supported Ollama version: our token count
// of every text equals the server's prompt_eval_count.
func TestSmolLMTokenCounts(t *testing.T) {
	c := ollamatest.Client(t)
	tok, err := tokenizer.Train(context.Background(), append(tinymodel.Corpus, flavorTexts(t)...), tokenizer.TrainOptions{VocabSize: 1024, Pre: tokenizer.PreSmolLM})
	if err != nil {
		t.Fatal(err)
	}
	cfg := tinymodel.Config(tok.Size())
	cfg.ContextLength = 1024 // v0.17.4 caps the runner's context at the model's: keep it above the texts
	m, err := llama.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m.InitRandom(44, 0.1)
	path := filepath.Join(t.TempDir(), "smollm.gguf")
	if err := weights.Save(path, m, tok, weights.SaveOptions{Name: "tiny-smollm"}); err != nil {
		t.Fatal(err)
	}
	loaded, err := weights.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if pre := loaded.Tokenizer.(*tokenizer.BPE).Pre(); pre != tokenizer.PreSmolLM {
		t.Fatalf("pre-tokenizer %q after loading", pre)
	}
	s := create(t, c, path, ollama.CreateOptions{Template: "{{ .Prompt }}"})
	tokenCountsOf(t, s, loaded, flavorTexts(t))
}
