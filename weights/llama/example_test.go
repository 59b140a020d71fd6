package llama_test

import (
	"context"
	"fmt"
	"log"

	"github.com/fastslow/fastslow/weights/llama"
)

// A model is built from its shape, given weights (here random; normally copied from a GGUF through
// Tensors), run over a prompt and asked to continue it.
func Example() {
	m, err := llama.New(llama.Config{Vocab: 32, Dim: 16, Hidden: 32, Layers: 2, Heads: 4, KVHeads: 2,
		ContextLength: 64, RopeBase: 10000, NormEps: 1e-5})
	if err != nil {
		log.Fatal(err)
	}
	m.InitRandom(1, 0.2)

	prompt := []int32{1, 7, 3}
	logits, err := m.Logits(prompt, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("logits:", len(logits)/m.Config.Vocab, "x", m.Config.Vocab)

	out, err := m.Generate(context.Background(), prompt, 5, llama.Sampler{Temperature: 0}, nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("generated", len(out), "tokens")
	// Output:
	// logits: 3 x 32
	// generated 5 tokens
}

// An adapter starts as the identity (B = 0); one gradient step on a completion moves it.
func ExampleNewAdapter() {
	m, err := llama.New(llama.Config{Vocab: 32, Dim: 16, Hidden: 32, Layers: 2, Heads: 4, KVHeads: 2,
		ContextLength: 64, RopeBase: 10000, NormEps: 1e-5, TiedOutput: true})
	if err != nil {
		log.Fatal(err)
	}
	m.InitRandom(1, 0.2)
	a, err := llama.NewAdapter(m, llama.LoRAConfig{Rank: 4, Alpha: 8, Targets: []string{"q_proj", "v_proj"}}, 1)
	if err != nil {
		log.Fatal(err)
	}
	seq := llama.Sequence{Tokens: []int32{1, 5, 9, 2, 2}, Start: 3}
	before, n, err := m.LossAndGrad(context.Background(), []llama.Sequence{seq}, a, false)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range a.Params() { // plain SGD; the trainer package does AdamW
		for i := range p.Data {
			p.Data[i] -= 0.5 * p.Grad[i] / float32(n)
		}
	}
	a.ZeroGrad()
	after, _, err := m.LossAndGrad(context.Background(), []llama.Sequence{seq}, a, false)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("scored tokens:", n)
	fmt.Println("loss went down:", after < before)
	// Output:
	// scored tokens: 2
	// loss went down: true
}

// A qwen2 model differs from a llama one in its Config: the network gains q/k/v biases and rotates the two
// halves of each head; everything else (adapters, training, generation) works the same.
func ExampleArchitectures() {
	fmt.Println(llama.Architectures())
	m, err := llama.New(llama.Config{Arch: llama.ArchQwen2, Vocab: 32, Dim: 16, Hidden: 32, Layers: 1, Heads: 2,
		KVHeads: 1, ContextLength: 64, RopeBase: 1e6, NormEps: 1e-6, TiedOutput: true})
	if err != nil {
		log.Fatal(err)
	}
	p, _ := m.Tensor("blk.0.attn_k.bias")
	fmt.Println(p.Name, p.Shape)
	// Output:
	// [gemma3 llama qwen2 qwen3]
	// blk.0.attn_k.bias [8]
}
