package gguf_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/fastslow/fastslow/weights/gguf"
)

func Example() {
	dir, err := os.MkdirTemp("", "gguf-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "tiny.gguf")

	w := gguf.NewWriter()
	w.Set("general.architecture", "llama")
	w.Set("llama.embedding_length", uint32(4))
	w.Set("tokenizer.ggml.tokens", []string{"<s>", "</s>", "hi"})
	// ne order: 4 elements per row, 2 rows.
	if err := w.AddTensor("token_embd.weight", gguf.TypeF16, []uint64{4, 2},
		[]float32{0.1, 0.2, 0.3, 0.4, -1, -2, -3, -4}); err != nil {
		log.Fatal(err)
	}
	if err := w.WriteFile(path); err != nil {
		log.Fatal(err)
	}

	f, err := gguf.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	arch, _ := f.Meta.String("general.architecture")
	dim, _ := f.Meta.Uint32("llama.embedding_length")
	tokens, _ := f.Meta.Strings("tokenizer.ggml.tokens")
	t, _ := f.Tensor("token_embd.weight")
	data, err := f.Float32s("token_embd.weight")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(arch, dim, tokens)
	fmt.Println(t.Name, t.Type, t.Shape, t.Bytes())
	fmt.Println(data)
	// Output:
	// llama 4 [<s> </s> hi]
	// token_embd.weight f16 [4 2] 16
	// [0.099975586 0.19995117 0.30004883 0.39990234 -1 -2 -3 -4]
}
