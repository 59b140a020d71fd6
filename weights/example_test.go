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
	out, err := m.Generate(context.Background(), prompt, 4, llama.Sampler{}, m.EOG, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(out) <= 4)
	// Output:
	// llama q8_0 true
	// true
}
