package fastslow_test

import (
	"fmt"

	"github.com/fastslow/fastslow/fastslow"
)

// OllamaAppliesAdapters decides the auto deploy mode: an adapter where Ollama's llama.cpp runner serves the
// architecture, a merged model where Ollama's own engine does.
func ExampleOllamaAppliesAdapters() {
	for _, arch := range []string{"llama", "qwen3"} {
		ok, why := fastslow.OllamaAppliesAdapters(arch)
		fmt.Println(ok, why)
	}
	// Output:
	// true Ollama runs llama on its llama.cpp runner, which applies LoRA adapters
	// false Ollama runs qwen3 on its own engine, which does not apply LoRA adapters
}
