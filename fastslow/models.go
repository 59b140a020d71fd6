package fastslow

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/weights"
)

// ModelRef says where a base model's weights come from.
type ModelRef struct {
	// Path is the GGUF file holding the weights; for an Ollama model, its blob in the server's store.
	Path string
	// Ollama is the Ollama model name the weights were found under, empty for a file given by its path.
	Ollama string
}

// IsPath tells a GGUF file from an Ollama model name: an existing file, or a name with a .gguf extension or
// an explicit directory, is a file; "llama3.2:1b", "qwen2.5:0.5b" and "user/model" are model names.
func IsPath(s string) bool {
	if _, err := os.Stat(s); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return true
	}
	return strings.HasSuffix(strings.ToLower(s), ".gguf") || strings.HasPrefix(s, "/") ||
		strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") || strings.HasPrefix(s, "~")
}

// ResolveModel finds the GGUF of nameOrPath: a file (see IsPath) is used as it is; anything else is an Ollama
// model name, resolved through c to the blob that holds its weights (the server's Modelfile, or the manifest
// in the store when the server runs elsewhere). c may be nil when nameOrPath is a file. A model that already
// has an adapter resolves to its base weights.
func ResolveModel(ctx context.Context, c *ollama.Client, nameOrPath string) (ModelRef, error) {
	if nameOrPath == "" {
		return ModelRef{}, errors.New("resolve model: no model given")
	}
	if IsPath(nameOrPath) {
		if _, err := os.Stat(nameOrPath); err != nil {
			return ModelRef{}, fmt.Errorf("resolve model: %w", err)
		}
		return ModelRef{Path: nameOrPath}, nil
	}
	if c == nil {
		return ModelRef{}, fmt.Errorf("resolve model %q: not a file, and no Ollama server to look it up in", nameOrPath)
	}
	p, err := c.ResolveGGUF(ctx, nameOrPath)
	if err != nil {
		return ModelRef{}, fmt.Errorf("model %q is not a file here, so it was looked up in Ollama: %w", nameOrPath, err)
	}
	return ModelRef{Path: p, Ollama: nameOrPath}, nil
}

// LoadModel resolves nameOrPath (see ResolveModel) and loads its weights for training and in-process
// inference. The architectures are weights.Load's (llama, including llama-3's RoPE scaling, and qwen2, with
// tied or separate output); quantized matrices (Q4_0, Q8_0, Q4_K, Q5_K, Q6_K, ...) stay in their encoding
// and are decoded block by block inside the products, so a LoRA trains in float32 over the dequantized base
// without a float32 copy of it while Ollama applies it to the quantized one (set m.Precision = llama.Runner() for inference that reproduces Ollama's exactly). Another
// architecture is refused with an error that wraps weights.ErrUnsupportedArchitecture and lists the
// supported ones.
func LoadModel(ctx context.Context, c *ollama.Client, nameOrPath string) (*weights.Model, ModelRef, error) {
	ref, err := ResolveModel(ctx, c, nameOrPath)
	if err != nil {
		return nil, ModelRef{}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, ModelRef{}, err
	}
	m, err := weights.Load(ref.Path)
	if err != nil {
		if ref.Ollama != "" {
			return nil, ModelRef{}, fmt.Errorf("model %q: %w", ref.Ollama, err)
		}
		return nil, ModelRef{}, err
	}
	return m, ref, nil
}

// DeployBase returns the Ollama model that adapters trained on ref's weights are deployed FROM: the Ollama
// model itself, so the adapted model keeps its template, system prompt and parameters, or, for a file, the
// model EnsureBase creates from it. Ollama applies one adapter per model: deploy FROM a base, not FROM a model
// that already has an adapter.
func DeployBase(ctx context.Context, c *ollama.Client, ref ModelRef) (string, error) {
	if c == nil {
		return "", errors.New("deploy base: no Ollama server")
	}
	if ref.Ollama != "" {
		return ref.Ollama, nil
	}
	if ref.Path == "" {
		return "", errors.New("deploy base: empty model reference")
	}
	return EnsureBase(ctx, c, ref.Path)
}
