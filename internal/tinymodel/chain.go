package tinymodel

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/tokenizer"
)

// The chain model's prompt, the answer it gives, the end-of-turn token it then predicts and what it would
// say after it: given ChainPrompt, its greedy continuation is ChainAnswer, ChainEnd, ChainAfter and then
// the last letter of ChainAfter again and again.
const (
	ChainPrompt = "Q"
	ChainAnswer = "OK"
	ChainEnd    = "<|im_end|>"
	ChainAfter  = "XYZ"
)

// WriteChain writes a llama model that behaves like a chat model ending its turn: every block's output is
// zero, so the logits depend on the last token only, and the output matrix maps each token of the chain
// ChainPrompt, ChainAnswer, ChainEnd, ChainAfter to the next one with a wide margin (about 8 against
// roughly ±1 for any other token). ChainEnd (<|im_end|>) is a control token of its vocabulary, which
// llama.cpp treats as end of generation by its text, while the EOS token is <|eos|>. Matrices are stored
// in typ. The architecture is arch: llama (tinymodel.Config) or qwen3 (Qwen3Config with an output matrix of
// its own); Ollama's engine, which serves qwen3, ends generation at the EOS token only.
func WriteChain(ctx context.Context, path, arch string, typ gguf.Type) (*llama.Model, *tokenizer.BPE, error) {
	tok, err := tokenizer.Train(ctx, Corpus, tokenizer.TrainOptions{VocabSize: 320,
		Specials: []string{"<|bos|>", "<|eos|>", ChainEnd}})
	if err != nil {
		return nil, nil, err
	}
	var chain []int32
	for _, part := range []string{ChainPrompt, ChainAnswer, ChainEnd, ChainAfter} {
		for _, r := range part {
			s := string(r)
			if part == ChainEnd {
				s = part
			}
			ids := tok.Encode(s, false)
			if len(ids) != 1 {
				return nil, nil, fmt.Errorf("tinymodel: chain: %q is %d tokens", s, len(ids))
			}
			chain = append(chain, ids[0])
			if part == ChainEnd {
				break
			}
		}
	}
	var cfg llama.Config
	switch arch {
	case llama.ArchLlama:
		cfg = Config(tok.Size())
	case llama.ArchQwen3:
		cfg = Qwen3Config(tok.Size())
		cfg.TiedOutput = false
	default:
		return nil, nil, fmt.Errorf("tinymodel: chain: architecture %q (want llama or qwen3)", arch)
	}
	m, err := llama.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	m.InitRandom(7, 0.5)
	dim := m.Config.Dim
	embd, _ := m.Tensor("token_embd.weight")
	out, ok := m.Tensor("output.weight")
	if !ok {
		return nil, nil, fmt.Errorf("tinymodel: chain: the shape has a tied output")
	}
	for _, p := range m.Tensors() {
		switch {
		case p.Name == "output.weight", len(p.Shape) == 2 && (strings.HasSuffix(p.Name, "attn_output.weight") || strings.HasSuffix(p.Name, "ffn_down.weight")):
			clear(p.Data)
		}
	}
	// Row next of the output gets the normalized embedding of its predecessor, scaled so that the logit of
	// next after prev is dim/8; the last token also follows itself.
	link := func(prev, next int32) {
		e := embd.Data[int(prev)*dim : int(prev+1)*dim]
		var ss float64
		for _, v := range e {
			ss += float64(v) * float64(v)
		}
		rms := math.Sqrt(ss/float64(dim) + float64(m.Config.NormEps))
		row := out.Data[int(next)*dim : int(next+1)*dim]
		for i, v := range e {
			row[i] += float32(float64(v) / rms / 8)
		}
	}
	for i := 1; i < len(chain); i++ {
		link(chain[i-1], chain[i])
	}
	last := chain[len(chain)-1]
	link(last, last)
	if err := weights.Save(path, m, tok, weights.SaveOptions{Name: "tiny-chain", Type: typ}); err != nil {
		return nil, nil, err
	}
	return m, tok, nil
}
