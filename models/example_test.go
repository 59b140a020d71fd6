package models_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/fastslow/fastslow/models"
	"github.com/fastslow/fastslow/weights"
)

// Write the embedded model to a file and load it with the in-process engine (Ollama can serve the
// same file: `FROM ./default.gguf`).
func ExampleWriteDefault() {
	dir, err := os.MkdirTemp("", "models")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "default.gguf")
	if err := models.WriteDefault(path); err != nil {
		log.Fatal(err)
	}
	m, err := weights.Load(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Name)
	// Output: fastslow-base
}
