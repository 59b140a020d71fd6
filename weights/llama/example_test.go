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

// A gemma3 model declares its head width (KeyLength, here wider than Dim/Heads), its sliding window and
// its local RoPE base; every sixth layer attends globally. It has norms on each head and after attention
// and feed-forward.
func ExampleConfig_SlidingLayer() {
	c := llama.Config{Arch: llama.ArchGemma3, Vocab: 32, Dim: 16, Hidden: 32, Layers: 6, Heads: 2, KVHeads: 1,
		KeyLength: 16, ContextLength: 64, RopeBase: 1e6, RopeLocalBase: 1e4, SlidingWindow: 4, NormEps: 1e-6,
		TiedOutput: true}
	m, err := llama.New(c)
	if err != nil {
		log.Fatal(err)
	}
	var sliding []bool
	for l := range c.Layers {
		sliding = append(sliding, c.SlidingLayer(l))
	}
	fmt.Println(sliding)
	q, _ := m.Tensor("blk.0.attn_q.weight")
	qn, _ := m.Tensor("blk.0.attn_q_norm.weight")
	_, post := m.Tensor("blk.0.post_ffw_norm.weight")
	fmt.Println(q.Shape, qn.Shape, post)
	// Output:
	// [true true true true true false]
	// [16 32] [16] true
}

// StepLogits returns the logits a server's log-probabilities come from at each step of a continuation;
// computing as Ollama v0.17.4 does (RunnerFlash), they equal its logprobs bit for bit.
func ExampleModel_StepLogits() {
	m, err := llama.New(llama.Config{Arch: llama.ArchQwen3, Vocab: 32, Dim: 16, Hidden: 32, Layers: 2,
		Heads: 2, KVHeads: 1, KeyLength: 16, ContextLength: 64, RopeBase: 1e6, NormEps: 1e-6, TiedOutput: true})
	if err != nil {
		log.Fatal(err)
	}
	m.InitRandom(3, 0.2)
	m.Precision = llama.RunnerFlash()
	prompt := []int32{1, 4, 9}
	out, err := m.Generate(context.Background(), prompt, 4, llama.Sampler{}, nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	rows, err := m.StepLogits(context.Background(), prompt, out, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(out), "tokens,", len(rows), "rows of", len(rows[0]), "logits")
	// Output:
	// 4 tokens, 5 rows of 32 logits
}
