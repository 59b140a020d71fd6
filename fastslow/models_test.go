package fastslow_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/train"
)

func TestIsPath(t *testing.T) {
	file := filepath.Join(t.TempDir(), "model")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   string
		path bool
	}{
		{"llama3.2:1b", false},
		{"qwen2.5:0.5b", false},
		{"smollm2", false},
		{"user/model:tag", false},
		{file, true},
		{"missing.gguf", true},
		{"./model", true},
		{"/abs/model", true},
		{"~/model", true},
	}
	for _, tt := range tests {
		if got := fastslow.IsPath(tt.in); got != tt.path {
			t.Errorf("IsPath(%q) = %v, want %v", tt.in, got, tt.path)
		}
	}
}

func TestResolveModelErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct{ in, want string }{
		{"", "no model given"},
		{"missing.gguf", "no such file"},
		{"llama3.2:1b", "no Ollama server"},
	}
	for _, tt := range tests {
		if _, err := fastslow.ResolveModel(ctx, nil, tt.in); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ResolveModel(%q) error %v, want one containing %q", tt.in, err, tt.want)
		}
	}
	if _, err := fastslow.DeployBase(ctx, nil, fastslow.ModelRef{Ollama: "x"}); err == nil {
		t.Error("DeployBase without a server succeeded")
	}
}

// TestLoadModelFromOllama creates a model in Ollama from our file, then loads it by its Ollama name, trains
// an adapter on it, deploys the adapter FROM that name, and checks that Ollama's adapted model answers as
// our engine predicts: train --model <name> and deploy, end to end, on the qwen2 architecture.
func TestLoadModelFromOllama(t *testing.T) {
	c := ollamatest.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	file := filepath.Join(t.TempDir(), "qwen.gguf")
	if _, _, err := tinymodel.WriteFlavor(file, tinymodel.Qwen25, 3, 0.1, gguf.TypeF32); err != nil {
		t.Fatal(err)
	}
	name := ollamatest.UniqueName(t, "fastslow-load")
	if err := c.CreateFromGGUF(ctx, name, file, ollama.CreateOptions{SkipLoadCheck: true}); err != nil {
		t.Fatal(err)
	}
	m, ref, err := fastslow.LoadModel(ctx, c, name)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Ollama != name || ref.Path == "" || ref.Path == file {
		t.Fatalf("ref %+v: want the server's blob for %s", ref, name)
	}
	if m.Config.Architecture() != llama.ArchQwen2 || m.ChatTemplate != tinymodel.Qwen25Template {
		t.Fatalf("loaded a %s model with template %q", m.Config.Architecture(), m.ChatTemplate)
	}
	if _, _, err := fastslow.LoadModel(ctx, c, "fastslow-no-such-model"); !errors.Is(err, ollama.ErrModelNotFound) {
		t.Errorf("unknown model: %v, want ErrModelNotFound", err)
	}

	pair := weights.Pair{Prompt: "Q: capital of Zorblia?\nA:", Completion: " Quessa"}
	a, _, err := weights.FineTune(ctx, m, []weights.Pair{pair}, weights.LoRAOptions{
		LoRA:  llama.LoRAConfig{Rank: 4, Alpha: 8, Targets: []string{"attn_q", "attn_v", "ffn_down"}},
		Train: train.Options{Steps: 30, BatchSize: 1, LR: 1e-2, Decay: train.DecayConstant},
		Seed:  1,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	prompt := m.Tokenizer.Encode(pair.Prompt, true)
	ids, err := m.Generate(ctx, prompt, 8, llama.Sampler{}, a)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Tokenizer.Decode(ids); got != pair.Completion {
		t.Fatalf("after training our engine answers %q, want %q", got, pair.Completion)
	}
	adapter := filepath.Join(t.TempDir(), "adapter.gguf")
	if err := weights.SaveAdapter(adapter, a, ""); err != nil {
		t.Fatal(err)
	}
	base, err := fastslow.DeployBase(ctx, c, ref)
	if err != nil || base != name {
		t.Fatalf("deploy base %q, %v; want %q", base, err, name)
	}
	adapted := ollamatest.UniqueName(t, "fastslow-load-adapted")
	if err := c.CreateAdapted(ctx, adapted, base, adapter); err != nil {
		t.Fatal(err)
	}
	g, err := c.Generate(ctx, adapted, pair.Prompt, ollama.GenerateOptions{NumPredict: 8, Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	if g.Text != pair.Completion {
		t.Errorf("Ollama's adapted model answers %q, want %q", g.Text, pair.Completion)
	}
	g, err = c.Generate(ctx, name, pair.Prompt, ollama.GenerateOptions{NumPredict: 8, Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	if g.Text == pair.Completion {
		t.Errorf("the base already answers %q: the test shows nothing", g.Text)
	}
}

// A base model is named by an Ollama model name or a GGUF path; LoadModel finds its weights either way.
func ExampleLoadModel() {
	c, err := ollama.FromEnv(ollama.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	m, ref, err := fastslow.LoadModel(context.Background(), c, "qwen2.5:0.5b")
	if err != nil {
		fmt.Println(err) // for example: unsupported architecture "gemma3" (supported: llama, qwen2)
		return
	}
	fmt.Println(m.Config.Architecture(), ref.Path)
}
