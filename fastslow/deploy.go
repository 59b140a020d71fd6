package fastslow

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/weights"
)

// DeployMode says how what the slow channel learned is served.
type DeployMode string

const (
	// DeployAdapter serves the base with a LoRA adapter (FROM base + ADAPTER): a few megabytes per version,
	// but only a server that applies adapters can serve it (Ollama's llama.cpp runner does; its own engine,
	// which runs qwen3, gemma3 and most newer architectures, answers "loras are not yet implemented").
	DeployAdapter DeployMode = "adapter"
	// DeployMerged folds the adapter into the base's tensors and serves the whole model (weights.Merge): it
	// runs on every server version and engine, and each version is a copy of the model.
	DeployMerged DeployMode = "merged"
	// DeployAuto deploys the adapter where the server applies it and a merged model elsewhere.
	DeployAuto DeployMode = "auto"
)

// DeployModes lists the deploy modes by name.
func DeployModes() []string {
	return []string{string(DeployAuto), string(DeployAdapter), string(DeployMerged)}
}

// ParseDeployMode reads a deploy mode by name; "" is DeployAuto.
func ParseDeployMode(s string) (DeployMode, error) {
	if s == "" {
		return DeployAuto, nil
	}
	if !slices.Contains(DeployModes(), s) {
		return "", fmt.Errorf("unknown deploy mode %q (want %s)", s, strings.Join(DeployModes(), ", "))
	}
	return DeployMode(s), nil
}

// DeployOptions configure how the slow channel's versions are served.
type DeployOptions struct {
	// Mode is adapter, merged or auto (default DeployAuto).
	Mode DeployMode
	// MergedType encodes the adapted tensors of a merged model (default weights.MergedSame: each in the
	// base's type).
	MergedType weights.MergedType
	// Keep is how many merged versions stay deployed and on disk (default 3); older ones are removed from
	// the server and their merged files deleted (their adapters stay, so a rollback merges them again). The
	// served version is always kept.
	Keep int
}

// DefaultDeployOptions returns the default deploy options.
func DefaultDeployOptions() DeployOptions {
	return DeployOptions{Mode: DeployAuto, MergedType: weights.MergedSame, Keep: 3}
}

// ollamaEngineArchitectures are the architectures Ollama runs on its own engine, which does not apply LoRA
// adapters: fs/ggml's OllamaEngineRequired of v0.6.5 (gemma3, mistral3) and v0.17.4.
var ollamaEngineArchitectures = []string{
	"bert", "deepseek2", "deepseekocr", "gemma3", "gemma3n", "gptoss", "gpt-oss", "llama4", "mistral3", "mllama",
	"nemotron_h", "nemotron_h_moe", "nomic-bert", "olmo3", "qwen25vl", "qwen3", "qwen3moe", "qwen35",
	"qwen35moe", "qwen3next", "qwen3vl", "qwen3vlmoe", "glm4moelite", "glmocr", "lfm2", "lfm2moe",
}

// OllamaAppliesAdapters reports whether Ollama serves a LoRA adapter on a base of architecture arch, and
// why: its llama.cpp runner (llama, qwen2, gemma2, ...) applies adapters; its own engine, which it requires
// for qwen3, gemma3 and other newer architectures, does not (a model with an adapter is created but fails
// to load: "loras are not yet implemented", seen on v0.17.4).
func OllamaAppliesAdapters(arch string) (bool, string) {
	if slices.Contains(ollamaEngineArchitectures, arch) {
		return false, fmt.Sprintf("Ollama runs %s on its own engine, which does not apply LoRA adapters", arch)
	}
	return true, fmt.Sprintf("Ollama runs %s on its llama.cpp runner, which applies LoRA adapters", arch)
}

// Deployment says how an adapter was deployed.
type Deployment struct {
	// Mode is what was done: DeployAdapter or DeployMerged.
	Mode DeployMode `json:"mode"`
	// Model is the created model, From the model it was made from (the base).
	Model string `json:"model"`
	From  string `json:"from"`
	// Reason says why auto chose Mode.
	Reason string `json:"reason,omitempty"`
	// MergedPath is the merged GGUF (merged mode), MergedBytes its size; Retained is the share of the update
	// the merged tensors carry (weights.Merged.Retained; 1 for an exact encoding).
	MergedPath  string  `json:"merged_path,omitempty"`
	MergedBytes int64   `json:"merged_bytes,omitempty"`
	Retained    float64 `json:"retained,omitempty"`
}

// DeployToOllama creates the Ollama model name for base (the model loaded from the GGUF at basePath) with
// the LoRA adapter at adapterPath, made from the existing Ollama model from (the base as Ollama serves it:
// its template, system prompt and parameters carry over). With DeployAdapter the model is from plus the
// adapter; with DeployMerged the adapter is folded into the base (weights.Merge, written to mergedPath and
// checked) and the whole GGUF is created with from's settings. DeployAuto picks the adapter when Ollama
// applies adapters to the architecture (OllamaAppliesAdapters) and falls back to merged when the server
// refuses the adapter model anyway.
func DeployToOllama(ctx context.Context, c *ollama.Client, base *weights.Model, basePath, from, name, adapterPath, mergedPath string, opt DeployOptions) (Deployment, error) {
	d := Deployment{Model: name, From: from}
	mode := opt.Mode
	if mode == "" {
		mode = DeployAuto
	}
	if _, err := ParseDeployMode(string(mode)); err != nil {
		return d, fmt.Errorf("deploy: %w", err)
	}
	a, err := weights.LoadAdapter(adapterPath, base.Model)
	if err != nil {
		return d, fmt.Errorf("deploy: %w", err)
	}
	if mode == DeployAuto {
		ok, why := OllamaAppliesAdapters(base.Config.Architecture())
		d.Reason = why
		if !ok {
			mode = DeployMerged
		}
	}
	if mode != DeployMerged {
		err := c.CreateAdapted(ctx, name, from, adapterPath)
		var se *ollama.ServerError
		if err == nil || mode == DeployAdapter || !errors.As(err, &se) {
			if err != nil {
				return d, fmt.Errorf("deploy: %w", err)
			}
			d.Mode = DeployAdapter
			return d, nil
		}
		d.Reason = fmt.Sprintf("the server refused the adapter model (%v), so a merged model was deployed", se)
	}
	d.Mode = DeployMerged
	if mergedPath == "" {
		return d, errors.New("deploy: a merged deploy needs a path for the merged GGUF")
	}
	m, err := weights.Merge(ctx, base, basePath, a, mergedPath, weights.MergeOptions{Type: opt.MergedType})
	if err != nil {
		return d, fmt.Errorf("deploy: %w", err)
	}
	d.MergedPath, d.MergedBytes = mergedPath, m.Size
	if r := m.Retained(); !math.IsNaN(r) {
		d.Retained = r
	}
	if err := c.CreateMerged(ctx, name, from, mergedPath); err != nil {
		return d, fmt.Errorf("deploy: %w", err)
	}
	return d, nil
}
