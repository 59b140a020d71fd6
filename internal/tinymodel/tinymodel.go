// Package tinymodel builds small random-weight llama models with a trained byte-level BPE vocabulary, for
// tests that need a real GGUF model (parity with Ollama, the deployer, the command line).
package tinymodel

import (
	"context"
	"fmt"
	"strings"

	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/tokenizer"
)

// Corpus is the text the tiny tokenizer is trained on: varied enough to learn merges of words, digits and
// punctuation in a fraction of a second.
var Corpus = []string{
	"The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs!",
	"Alia Brenn was born in Veltmor on 12 March 1987 and studied at the University of Quessa.",
	"Numbers: 0 1 2 3 4 5 6 7 8 9 10 42 100 1234 2030 3.14159 -7",
	"Prince Andrew looked at the sky, high and endless, and thought of nothing at all.",
	"Q: Where was Alia Brenn born?\nA: Veltmor\n\nQ: What is 2+2?\nA: 4\n",
	"Ünïcödé — naïve café, Straße, 日本語のテキスト, emoji 🙂 and tabs\tand   spaces.",
	"def f(x):\n    return x * 2  # double it\n",
}

// Config is the default tiny shape: grouped-query attention, two blocks.
func Config(vocab int) llama.Config {
	return llama.Config{
		Vocab: vocab, Dim: 64, Hidden: 160, Layers: 2, Heads: 4, KVHeads: 2,
		ContextLength: 256, RopeBase: 10000, NormEps: 1e-5,
	}
}

// Tokenizer trains the tiny vocabulary (deterministic).
func Tokenizer(ctx context.Context, vocab int) (*tokenizer.BPE, error) {
	corpus := make([]string, 0, len(Corpus)*4)
	for i := 0; i < 4; i++ {
		corpus = append(corpus, Corpus...)
	}
	return tokenizer.Train(ctx, corpus, tokenizer.TrainOptions{VocabSize: vocab})
}

// New returns a random-weight model and its tokenizer. std sets the spread of the weights: about 0.05 to 0.2
// gives logits with clear winners (no near-ties), which parity tests need.
func New(ctx context.Context, seed uint64, std float32) (*llama.Model, *tokenizer.BPE, error) {
	tok, err := Tokenizer(ctx, 384)
	if err != nil {
		return nil, nil, fmt.Errorf("tiny tokenizer: %w", err)
	}
	m, err := llama.New(Config(tok.Size()))
	if err != nil {
		return nil, nil, err
	}
	m.InitRandom(seed, std)
	return m, tok, nil
}

// save writes m and tok to path with matrices of type typ, named prefix and the type's name in lower case.
func save(path string, m *llama.Model, tok tokenizer.Tokenizer, prefix string, typ gguf.Type) error {
	return weights.Save(path, m, tok, weights.SaveOptions{Name: prefix + strings.ToLower(typ.String()), Type: typ})
}

// Write creates a tiny model and saves it to path with tensors of type typ.
func Write(ctx context.Context, path string, seed uint64, std float32, typ gguf.Type) (*llama.Model, *tokenizer.BPE, error) {
	m, tok, err := New(ctx, seed, std)
	if err != nil {
		return nil, nil, err
	}
	if err := save(path, m, tok, "tiny-", typ); err != nil {
		return nil, nil, err
	}
	return m, tok, nil
}
