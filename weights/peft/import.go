package peft

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/llama"
)

// Format names the layout an imported adapter came in.
type Format string

// Formats Import reads.
const (
	// FormatPEFT is a Hugging Face PEFT LoRA directory.
	FormatPEFT Format = "peft"
	// FormatGGUF is a GGUF LoRA adapter, as llama.cpp's convert_lora_to_gguf.py or this project writes it.
	FormatGGUF Format = "gguf"
)

// Import reads an adapter trained elsewhere and converts it for m: a PEFT LoRA directory (or its
// adapter_model.safetensors or adapter_config.json), or a GGUF LoRA file. It returns the adapter and the
// format it came in. Every check of FromTensors (PEFT) or weights.LoadAdapter (GGUF: general.type adapter,
// adapter.type lora, the base's architecture, tensor names and shapes, one rank) applies; the first problem
// is the error.
//
// A GGUF from convert_lora_to_gguf.py is already in GGUF order (q/k rows permuted for llama) and carries
// adapter.lora.alpha = lora_alpha; note that the converter writes lora_alpha unchanged for rsLoRA adapters,
// so such a GGUF scales the update by alpha/r where PEFT used alpha/√r: import the PEFT directory instead.
func Import(path string, m *llama.Model) (*llama.Adapter, Format, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, "", fmt.Errorf("import adapter: %w", err)
	}
	dir := path
	if !st.IsDir() {
		switch filepath.Base(path) {
		case WeightsFile, ConfigFile:
			dir = filepath.Dir(path)
		default:
			gg, err := isGGUF(path)
			if err != nil {
				return nil, "", fmt.Errorf("import adapter: %w", err)
			}
			if !gg {
				return nil, "", fmt.Errorf("import adapter: %s is neither a GGUF file nor a PEFT adapter (a directory with %s and %s)", path, ConfigFile, WeightsFile)
			}
			a, err := weights.LoadAdapter(path, m)
			if err != nil {
				return nil, "", fmt.Errorf("import adapter: %w", err)
			}
			return a, FormatGGUF, nil
		}
	}
	a, _, err := Load(dir, m)
	if err != nil {
		return nil, "", fmt.Errorf("import adapter: %w", err)
	}
	return a, FormatPEFT, nil
}

func isGGUF(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	magic := make([]byte, 4)
	if _, err := io.ReadFull(f, magic); err != nil {
		return false, nil
	}
	return bytes.Equal(magic, []byte("GGUF")), nil
}
