package parity_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
)

// TestEndOfTurnParity: a chat-like model whose greedy continuation of the prompt is an answer, <|im_end|>
// and more text (tinymodel.WriteChain). The server stops at <|im_end|> (an end-of-generation token of
// llama.cpp by its text, not the EOS token), and so does the engine's generation path, with the same text
// and token count.
func TestEndOfTurnParity(t *testing.T) {
	c := ollamatest.Client(t)
	path := filepath.Join(t.TempDir(), "chain.gguf")
	if _, _, err := tinymodel.WriteChain(context.Background(), path, llama.ArchLlama, gguf.TypeF16); err != nil {
		t.Fatal(err)
	}
	s := create(t, c, path, ollama.CreateOptions{Template: "{{ .Prompt }}"})
	m := load(t, path)
	g := s.greedy(t, tinymodel.ChainPrompt)
	if g.Text != tinymodel.ChainAnswer || g.DoneReason != "stop" {
		t.Fatalf("Ollama %s answers %q (done: %s), want %q ended by %s", ollamatest.Version(t), g.Text, g.DoneReason, tinymodel.ChainAnswer, tinymodel.ChainEnd)
	}
	t.Logf("Ollama %s: %q (%d tokens, done: %s)", ollamatest.Version(t), g.Text, g.EvalCount, g.DoneReason)
	text, n := ours(t, m, nil, tinymodel.ChainPrompt)
	if text != g.Text || n != g.EvalCount {
		t.Errorf("engine: %q in %d tokens, Ollama %q in %d", text, n, g.Text, g.EvalCount)
	}
}

// TestEndOfTurnParityEngine: the same chain as a qwen3 model, which Ollama serves with its own engine. That
// engine ends generation only at the EOS token (and tokenizer.ggml.eos_token_ids), not at <|im_end|> when it
// is not one of them, so the server writes <|im_end|> and goes on; the engine's generation path does the same
// (weights.Model.EOG follows the serving runner).
func TestEndOfTurnParityEngine(t *testing.T) {
	ollamatest.RequireVersion(t, engineVersion, "qwen3 runs on Ollama's own engine, checked on v0.17.4")
	c := ollamatest.Client(t)
	path := filepath.Join(t.TempDir(), "chain-qwen3.gguf")
	if _, _, err := tinymodel.WriteChain(context.Background(), path, llama.ArchQwen3, gguf.TypeF16); err != nil {
		t.Fatal(err)
	}
	s := create(t, c, path, ollama.CreateOptions{Template: "{{ .Prompt }}"})
	m := load(t, path)
	g := s.greedy(t, tinymodel.ChainPrompt)
	if !strings.HasPrefix(g.Text, tinymodel.ChainAnswer+tinymodel.ChainEnd+tinymodel.ChainAfter) || g.DoneReason != "length" {
		t.Fatalf("Ollama %s answers %q (done: %s), want it to go on past %s", ollamatest.Version(t), g.Text, g.DoneReason, tinymodel.ChainEnd)
	}
	t.Logf("Ollama %s: %q (%d tokens, done: %s)", ollamatest.Version(t), g.Text, g.EvalCount, g.DoneReason)
	text, n := ours(t, m, nil, tinymodel.ChainPrompt)
	if text != g.Text || n != g.EvalCount {
		t.Errorf("engine: %q in %d tokens, Ollama %q in %d", text, n, g.Text, g.EvalCount)
	}
}
