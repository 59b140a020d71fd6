package tinymodel

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/tokenizer"
)

// QwenSpecials are the special tokens of QwenTokenizer, in order after the learned tokens.
var QwenSpecials = []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}

// QwenTokenizer learns a byte-level BPE of vocab tokens from Corpus with qwen2's pre-tokenizer (the one
// Ollama's engine applies to qwen3 whatever the GGUF says) and Qwen's rules: <|endoftext|> is BOS but not
// added, <|im_end|> is EOS.
func QwenTokenizer(ctx context.Context, vocab int) (*tokenizer.BPE, error) {
	corpus := make([]string, 0, len(Corpus)*4)
	for range 4 {
		corpus = append(corpus, Corpus...)
	}
	tok, err := tokenizer.Train(ctx, corpus, tokenizer.TrainOptions{VocabSize: vocab, Specials: QwenSpecials,
		BOS: "<|endoftext|>", EOS: "<|im_end|>", Pre: tokenizer.PreQwen2})
	if err != nil {
		return nil, fmt.Errorf("tinymodel: qwen tokenizer: %w", err)
	}
	meta := map[string]any{}
	for _, kv := range tok.Metadata() {
		meta[kv.Key] = kv.Value
	}
	meta[tokenizer.KeyAddBOS] = false
	out, err := tokenizer.FromMetadata(func(k string) (any, bool) { v, ok := meta[k]; return v, ok })
	if err != nil {
		return nil, fmt.Errorf("tinymodel: qwen tokenizer: %w", err)
	}
	return out, nil
}

// Qwen3Config is a qwen3 shape for a vocabulary of vocab tokens, with widths that fill K-quant blocks so
// Ollama can quantize it to Q4_K_M: dim 256, 4 query heads of 128 (queries twice as wide as the embedding,
// as in qwen3:0.6b), 2 key/value heads, feed-forward 512, 2 blocks, RoPE base 1e6, eps 1e-6, a tied output.
func Qwen3Config(vocab int) llama.Config {
	return llama.Config{Arch: llama.ArchQwen3, Vocab: vocab, Dim: 256, Hidden: 512, Layers: 2, Heads: 4,
		KVHeads: 2, KeyLength: 128, ContextLength: 1024, RopeBase: 1e6, NormEps: 1e-6, TiedOutput: true}
}

// Gemma3Config is a gemma3 text shape: six blocks (five sliding-window ones with a window of 16 and local
// RoPE base 10000, then one global with base 1e6 and linear scaling 8, as Ollama's engine lays them out),
// dim 128 in 4 query heads of 64 (queries twice as wide as the embedding) sharing 2 key/value heads,
// feed-forward 256, eps 1e-6, a tied output. The 256-wide inputs of attn_output and ffn_down fill K-quant
// blocks; the 128-wide ones make Ollama's Q4_K_M fall back to Q5_0 and Q8_0 there, as on small gemmas.
func Gemma3Config(vocab int) llama.Config {
	return llama.Config{Arch: llama.ArchGemma3, Vocab: vocab, Dim: 128, Hidden: 256, Layers: 6, Heads: 4,
		KVHeads: 2, KeyLength: 64, ContextLength: 1024, RopeBase: 1e6, RopeScale: 8, NormEps: 1e-6,
		TiedOutput: true, SlidingWindow: 16, RopeLocalBase: 10000}
}

// NewArch returns a random-weight model of shape cfg (weights of standard deviation std, norm weights
// around 1 with a spread of 0.2 so that a norm applied wrongly shows), deterministic in seed.
func NewArch(cfg llama.Config, seed uint64, std float32) (*llama.Model, error) {
	m, err := llama.New(cfg)
	if err != nil {
		return nil, err
	}
	m.InitRandom(seed, std)
	rng := rand.New(rand.NewPCG(seed, 0x6e6f726d)) // second word: "norm"
	for _, p := range m.Tensors() {
		if strings.HasSuffix(p.Name, "norm.weight") {
			for i := range p.Data {
				p.Data[i] = 1 + 0.2*float32(rng.NormFloat64())
			}
		}
	}
	return m, nil
}

// WriteQwen3 creates a random qwen3 model (Qwen3Config over QwenTokenizer's 512 tokens) and saves it to
// path with matrices of type typ.
func WriteQwen3(ctx context.Context, path string, seed uint64, std float32, typ gguf.Type) (*llama.Model, *tokenizer.BPE, error) {
	tok, err := QwenTokenizer(ctx, 512)
	if err != nil {
		return nil, nil, err
	}
	m, err := writeArch(path, Qwen3Config(tok.Size()), tok, seed, std, "tiny-qwen3-", typ)
	if err != nil {
		return nil, nil, err
	}
	return m, tok, nil
}

// writeArch makes a random model of cfg (NewArch) and saves it with tok to path, its matrices of type typ.
func writeArch(path string, cfg llama.Config, tok tokenizer.Tokenizer, seed uint64, std float32, prefix string, typ gguf.Type) (*llama.Model, error) {
	m, err := NewArch(cfg, seed, std)
	if err != nil {
		return nil, err
	}
	if err := save(path, m, tok, prefix, typ); err != nil {
		return nil, err
	}
	return m, nil
}
