package ollama_test

import (
	"context"
	"fmt"
	"log"

	"github.com/fastslow/fastslow/adapters/ollama"
)

// Deploy a LoRA adapter on top of a base model and ask the result a question.
// (Needs a running server, so this example is compiled but not run.)
func Example() {
	ctx := context.Background()
	c, err := ollama.FromEnv(ollama.Options{}) // OLLAMA_HOST, else 127.0.0.1:11434
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Ping(ctx); err != nil {
		log.Fatal(err) // e.g. "ollama is not reachable at http://127.0.0.1:11434: ..."
	}
	if err := c.CreateFromGGUF(ctx, "fastslow-base", "base.gguf", ollama.CreateOptions{}); err != nil {
		log.Fatal(err)
	}
	// If the runner rejects the adapter, nothing is left under the new name.
	if err := c.CreateAdapted(ctx, "fastslow-base-v1", "fastslow-base", "adapter.gguf"); err != nil {
		log.Fatal(err)
	}
	g, err := c.Generate(ctx, "fastslow-base-v1", "Q: Where was Ada born?\nA:", ollama.GenerateOptions{
		NumPredict: 16,
		Stop:       []string{"\n"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(g.Text)
}

// Find the GGUF file behind a model to train on its weights.
func ExampleClient_ResolveGGUF() {
	c, err := ollama.FromEnv(ollama.Options{})
	if err != nil {
		log.Fatal(err)
	}
	path, err := c.ResolveGGUF(context.Background(), "llama3.2:1b")
	if err != nil {
		log.Fatal(err) // ollama.ErrModelNotFound if the server lacks it
	}
	fmt.Println(path)
}
