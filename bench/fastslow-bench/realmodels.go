package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/tokenizer"
)

// realShape is a model users adapt, at its published shape: the real-shape benchmark writes it with random
// weights.
type realShape struct {
	Name   string       `json:"name"`
	Source string       `json:"source"` // where the shape comes from
	Config llama.Config `json:"config"`
}

// realShapes are the shapes of the models issue 15 names, from their Hugging Face config.json files (and the
// GGUFs Ollama serves for them). Context lengths are cut to 4096: the benchmark's sequences are far shorter,
// and the weights do not depend on it.
var realShapes = []realShape{
	{Name: "qwen3-0.6b", Source: "Qwen/Qwen3-0.6B (qwen3:0.6b): 28 blocks, dim 1024, 16 query heads of 128 sharing 8 " +
		"key/value heads, ffn 3072, tied output, RoPE base 1e6",
		Config: llama.Config{Arch: llama.ArchQwen3, Vocab: 151936, Dim: 1024, Hidden: 3072, Layers: 28, Heads: 16,
			KVHeads: 8, KeyLength: 128, ContextLength: 4096, RopeBase: 1e6, NormEps: 1e-6, TiedOutput: true}},
	{Name: "llama3.2-1b", Source: "meta-llama/Llama-3.2-1B (llama3.2:1b): 16 blocks, dim 2048, 32 query heads of 64 " +
		"sharing 8 key/value heads, ffn 8192, tied output, RoPE base 500000 with llama-3 frequency factors",
		Config: llama.Config{Vocab: 128256, Dim: 2048, Hidden: 8192, Layers: 16, Heads: 32, KVHeads: 8,
			ContextLength: 4096, RopeBase: 500000, RopeFreqFactors: true, NormEps: 1e-5, TiedOutput: true}},
	{Name: "gemma3-1b", Source: "google/gemma-3-1b-pt (gemma3:1b): 26 blocks (5 sliding-window of 512 to 1 global), " +
		"dim 1152, 4 query heads of 256 sharing 1 key/value head, ffn 6912, tied output, RoPE base 1e6 (local 1e4)",
		Config: llama.Config{Arch: llama.ArchGemma3, Vocab: 262144, Dim: 1152, Hidden: 6912, Layers: 26, Heads: 4,
			KVHeads: 1, KeyLength: 256, ContextLength: 4096, RopeBase: 1e6, NormEps: 1e-6, TiedOutput: true,
			SlidingWindow: 512, RopeLocalBase: 10000}},
	{Name: "qwen3-4b", Source: "Qwen/Qwen3-4B (qwen3:4b): 36 blocks, dim 2560, 32 query heads of 128 sharing 8 " +
		"key/value heads, ffn 9728, tied output, RoPE base 1e6",
		Config: llama.Config{Arch: llama.ArchQwen3, Vocab: 151936, Dim: 2560, Hidden: 9728, Layers: 36, Heads: 32,
			KVHeads: 8, KeyLength: 128, ContextLength: 4096, RopeBase: 1e6, NormEps: 1e-6, TiedOutput: true}},
}

func findShape(name string) (realShape, error) {
	var names []string
	for _, s := range realShapes {
		if s.Name == name {
			return s, nil
		}
		names = append(names, s.Name)
	}
	return realShape{}, fmt.Errorf("unknown model shape %q (known: %s)", name, strings.Join(names, ", "))
}

// params returns the number of weights of a model of shape c.
func params(c llama.Config) int64 {
	m := int64(c.Dim) * int64(c.Vocab)
	if !c.TiedOutput {
		m *= 2
	}
	return m + int64(c.Layers)*int64(layerMatrices(c))
}

// layerMatrices returns the weights of one block's seven projections.
func layerMatrices(c llama.Config) int {
	var n int
	for _, p := range projections(c) {
		n += p.in * p.out
	}
	return n
}

// projection is one of a block's seven linear maps, in → out.
type projection struct {
	name    string
	in, out int
}

func projections(c llama.Config) []projection {
	q, kv := c.Heads*c.HeadDim(), c.KVHeads*c.HeadDim()
	return []projection{{"attn_q", c.Dim, q}, {"attn_k", c.Dim, kv}, {"attn_v", c.Dim, kv}, {"attn_output", q, c.Dim},
		{"ffn_gate", c.Dim, c.Hidden}, {"ffn_up", c.Dim, c.Hidden}, {"ffn_down", c.Hidden, c.Dim}}
}

// shapeTokenizer returns the tokenizer written into the real-shape GGUFs: the real llama-3.2 vocabulary
// (128,000 BPE tokens and 256 specials, from the Ollama module's test data), padded with unused tokens to
// vocab. Only llama3.2-1b gets its own model's vocabulary; the others get their vocabulary's size, which is
// what the speed depends on.
func shapeTokenizer(vocab int) (tokenizer.Tokenizer, error) {
	base, err := tinymodel.FlavorTokenizer(tinymodel.Llama32)
	if err != nil {
		return nil, err
	}
	if base.Size() == vocab {
		return base, nil
	}
	if base.Size() > vocab {
		return nil, fmt.Errorf("vocabulary of %d tokens is smaller than llama-3.2's %d", vocab, base.Size())
	}
	meta := map[string]any{}
	for _, kv := range base.Metadata() {
		meta[kv.Key] = kv.Value
	}
	toks, ok1 := meta[tokenizer.KeyTokens].([]string)
	types, ok2 := meta[tokenizer.KeyTokenType].([]int32)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("llama-3.2 tokenizer metadata: tokens %T, types %T", meta[tokenizer.KeyTokens],
			meta[tokenizer.KeyTokenType])
	}
	toks, types = append([]string(nil), toks...), append([]int32(nil), types...)
	for id := len(toks); id < vocab; id++ {
		toks, types = append(toks, fmt.Sprintf("[PAD%d]", id)), append(types, tokenizer.TypeUnused)
	}
	meta[tokenizer.KeyTokens], meta[tokenizer.KeyTokenType] = toks, types
	return tokenizer.FromMetadata(func(k string) (any, bool) { v, ok := meta[k]; return v, ok })
}

// writeShapeGGUF writes a random-weight F16 GGUF of shape s to path with the project's writer, without ever
// holding the model in memory: a one-block model of the shape is saved with weights.Save (so the metadata is
// what Save writes), then copied with the block count set to the shape's and blocks 1… added as tensors
// filled at write time from block 0's (each matrix rotated by a random offset, so no two blocks are equal).
func writeShapeGGUF(ctx context.Context, path string, s realShape) error {
	tok, err := shapeTokenizer(s.Config.Vocab)
	if err != nil {
		return err
	}
	one := s.Config
	one.Layers = 1
	m, err := tinymodel.NewArch(one, 1, 0.02)
	if err != nil {
		return err
	}
	if p, ok := m.Tensor("rope_freqs.weight"); ok {
		copy(p.Data, tinymodel.Llama3RopeFactors(one.HeadDim(), one.RopeBase, 32, 1, 4, 8192))
	}
	tmp := path + ".one-block"
	defer os.Remove(tmp)
	if err := weights.Save(tmp, m, tok, weights.SaveOptions{Name: "fastslow-bench-" + s.Name, Type: gguf.TypeF16}); err != nil {
		return err
	}
	m = nil
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := gguf.Open(tmp)
	if err != nil {
		return err
	}
	defer f.Close()
	w := gguf.NewWriter()
	for _, kv := range f.Meta.All() {
		v := kv.Value
		if kv.Key == s.Config.Architecture()+".block_count" {
			v = uint32(s.Config.Layers)
		}
		if err := w.Set(kv.Key, v); err != nil {
			return err
		}
	}
	raw := func(name string) func() ([]byte, error) { return func() ([]byte, error) { return f.Raw(name) } }
	var block []gguf.TensorInfo
	for _, t := range f.Tensors {
		if rest, ok := strings.CutPrefix(t.Name, "blk.0."); ok {
			t.Name = rest
			block = append(block, t)
			continue
		}
		if err := w.AddTensorFunc(t.Name, t.Type, t.Shape, raw(t.Name)); err != nil {
			return err
		}
	}
	for l := range s.Config.Layers {
		for _, t := range block {
			fill := raw("blk.0." + t.Name)
			if l > 0 && len(t.Shape) > 1 {
				rng := rand.New(rand.NewPCG(uint64(l), uint64(len(t.Name))))
				fill = func() ([]byte, error) {
					if err := ctx.Err(); err != nil {
						return nil, err
					}
					b, err := f.Raw("blk.0." + t.Name)
					if err != nil {
						return nil, err
					}
					elem := len(b) / int(t.NumElements()) // F16: 2 bytes; others are never rotated
					off := elem * rng.IntN(int(t.NumElements()))
					return append(b[off:], b[:off]...), nil
				}
			}
			if err := w.AddTensorFunc(fmt.Sprintf("blk.%d.%s", l, t.Name), t.Type, t.Shape, fill); err != nil {
				return err
			}
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return w.WriteFile(path)
}
