package parity_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights/gguf"
)

// TestEndOfTurnParity: a chat-like model whose greedy continuation of the prompt is an answer, <|im_end|>
// and more text (tinymodel.WriteChain). The server stops at <|im_end|> (an end-of-generation token of
// llama.cpp by its text, not the EOS token), and so does the engine's generation path, with the same text
// and token count.
func TestEndOfTurnParity(t *testing.T) {
	c := ollamatest.Client(t)
	path := filepath.Join(t.TempDir(), "chain.gguf")
	if _, _, err := tinymodel.WriteChain(context.Background(), path, gguf.TypeF16); err != nil {
		t.Fatal(err)
	}
	s := create(t, c, path, ollama.CreateOptions{Template: "{{ .Prompt }}"})
	m := load(t, path)
	g := s.greedy(t, tinymodel.ChainPrompt)
	if g.Text != tinymodel.ChainAnswer || g.DoneReason != "stop" {
		t.Fatalf("Ollama %s answers %q (done: %s), want %q ended by %s", ollamatest.Version(t), g.Text, g.DoneReason, tinymodel.ChainAnswer, tinymodel.ChainEnd)
	}
	text, n := ours(t, m, nil, tinymodel.ChainPrompt)
	if text != g.Text || n != g.EvalCount {
		t.Errorf("engine: %q in %d tokens, Ollama %q in %d", text, n, g.Text, g.EvalCount)
	}
}
