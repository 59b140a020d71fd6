package llama_test

import (
	"fmt"

	"github.com/fastslow/fastslow/weights/llama"
)

// The memory of a LoRA training step at the shape of llama-3.2 1B (vocabulary 128,256, 16 blocks of width
// 2048, feed-forward 8192, 32 query and 8 key/value heads, tied output) with float32 weights, rank 16 on
// all seven projections, batches of 4 × 256 tokens, with and without per-block recomputation. The scratch
// part depends on the CPU's matrix kernel and the number of threads, so it is left out here. The loss's
// logits take no memory of their own: its chunks (255 positions) fit in the backward's buffers.
func ExampleEstimateMemory() {
	c := llama.Config{Vocab: 128256, Dim: 2048, Hidden: 8192, Layers: 16, Heads: 32, KVHeads: 8,
		ContextLength: 4096, RopeBase: 500000, NormEps: 1e-5, TiedOutput: true}
	lora := llama.LoRAConfig{Rank: 16, Alpha: 32, Targets: []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}}
	weights := int64(1_235_814_400) * 4 // the model's parameters, float32
	mib := func(b int64) int64 { return b >> 20 }
	for _, recompute := range []bool{false, true} {
		e := llama.EstimateMemory(c, weights, llama.StepShape{Tokens: 4 * 256, Longest: 256, LoRA: lora, Recompute: recompute})
		fmt.Printf("recompute %v: weights %d MiB, LoRA+AdamW %d MiB, activations %d MiB, logits %d MiB\n",
			recompute, mib(e.Weights), mib(e.Trained), mib(e.Activations), mib(e.Logits))
	}
	// Output:
	// recompute false: weights 4714 MiB, LoRA+AdamW 172 MiB, activations 2567 MiB, logits 0 MiB
	// recompute true: weights 4714 MiB, LoRA+AdamW 172 MiB, activations 597 MiB, logits 0 MiB
}
