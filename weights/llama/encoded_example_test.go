package llama_test

import (
	"fmt"
	"slices"

	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
)

// A matrix kept in its GGUF encoding has no float32 copy, and the model computes with it exactly as with
// the decoded values (weights.Load does this for every block-quantized matrix of a file).
func ExampleModel_SetEncoded() {
	cfg := llama.Config{Vocab: 16, Dim: 64, Hidden: 64, Layers: 1, Heads: 2, KVHeads: 2, ContextLength: 8,
		RopeBase: 10000, NormEps: 1e-5}
	enc, _ := llama.New(cfg)
	dec, _ := llama.New(cfg)
	enc.InitRandom(1, 0.1)
	dec.InitRandom(1, 0.1)

	p, _ := enc.Tensor("blk.0.ffn_up.weight")
	raw, _ := gguf.Quantize(gguf.TypeQ8_0, p.Data)
	if err := enc.SetEncoded(p.Name, gguf.TypeQ8_0, raw); err != nil {
		panic(err)
	}
	d, _ := dec.Tensor(p.Name)
	_ = gguf.Dequantize(gguf.TypeQ8_0, raw, d.Data) // the decode-first model

	typ, ok := enc.Encoded(p.Name)
	fmt.Println(typ, ok, "float32 copy:", p.Data != nil)
	a, _ := enc.Logits([]int32{1, 2, 3}, nil)
	b, _ := dec.Logits([]int32{1, 2, 3}, nil)
	fmt.Println("same logits as decode-first:", slices.Equal(a, b))
	// Output:
	// q8_0 true float32 copy: false
	// same logits as decode-first: true
}
