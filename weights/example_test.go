package weights_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
)

// Load reads a GGUF model of a supported architecture; with llama.Runner its inference computes as
// Ollama's runner does, also on a quantized base.
func ExampleLoad() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "tiny.gguf")
	if _, _, err := tinymodel.Write(context.Background(), path, 1, 0.1, gguf.TypeQ8_0); err != nil {
		log.Fatal(err)
	}
	m, err := weights.Load(path)
	if err != nil {
		log.Fatal(err)
	}
	typ, _ := m.Quantized("blk.0.attn_q.weight")
	fmt.Println(m.Config.Architecture(), typ, len(m.EOG) > 0)

	m.Precision = llama.Runner()
	prompt := m.Tokenizer.Encode("The quick brown fox", true)
	out, err := m.Generate(context.Background(), prompt, 4, llama.Sampler{}, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(out) <= 4)
	// Output:
	// llama q8_0 true
	// true
}

// Merge folds a LoRA adapter into the base's tensors and writes a whole model, each adapted tensor in its
// own type; the file is read back and checked before Merge returns.
func ExampleMerge() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	basePath := filepath.Join(dir, "base.gguf")
	if _, _, err := tinymodel.Write(ctx, basePath, 1, 0.1, gguf.TypeQ8_0); err != nil {
		log.Fatal(err)
	}
	base, err := weights.Load(basePath)
	if err != nil {
		log.Fatal(err)
	}
	a, err := llama.NewAdapter(base.Model, llama.LoRAConfig{Rank: 4, Alpha: 8, Targets: []string{"attn_v"}}, 1)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range a.Params() { // stands in for training
		for i := range p.Data {
			p.Data[i] = float32(i%5-2) * 0.05
		}
	}
	m, err := weights.Merge(ctx, base, basePath, a, filepath.Join(dir, "merged.gguf"), weights.MergeOptions{})
	if err != nil {
		log.Fatal(err)
	}
	for _, t := range m.Tensors {
		fmt.Printf("%s: %s, %.0f%% of the update kept\n", t.Name, t.Type, 100*t.Retained)
	}
	// Output:
	// blk.0.attn_v.weight: q8_0, 100% of the update kept
	// blk.1.attn_v.weight: q8_0, 100% of the update kept
}
