package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/weights/gguf"
)

type modelsOutput struct {
	Host   string      `json:"host"`
	Models []modelInfo `json:"models"`
}

func listModels(t *testing.T, env []string) modelsOutput {
	t.Helper()
	var out modelsOutput
	runJSON(t, env, &out, "models", "--json")
	return out
}

func findModel(ms []modelInfo, name string) *modelInfo {
	for i := range ms {
		if ms[i].Name == name || ms[i].Name == name+":latest" {
			return &ms[i]
		}
	}
	return nil
}

// TestModels lists and deletes fastslow's models on a real Ollama, and leaves every other model alone.
func TestModels(t *testing.T) {
	c := ollamatest.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	base := tinyBase(t, t.TempDir(), 5, gguf.TypeF32)
	ours := ollamatest.UniqueName(t, "fastslow-models")
	other := ollamatest.UniqueName(t, "notours-models")
	for _, name := range []string{ours, other} {
		if err := c.CreateFromGGUF(ctx, name, base, ollama.CreateOptions{SkipLoadCheck: true}); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"FASTSLOW_HOST=" + c.Host()}

	out := listModels(t, env)
	m := findModel(out.Models, ours)
	if m == nil {
		t.Fatalf("%s is not listed: %+v", ours, out.Models)
	}
	if m.Size <= 0 || len(m.Digest) < 12 || time.Since(m.ModifiedAt) > time.Hour {
		t.Errorf("listed as %+v: want a size, a digest and a recent time", *m)
	}
	if findModel(out.Models, other) != nil {
		t.Errorf("%s has no fastslow- prefix but is listed", other)
	}
	if out.Host != c.Host() {
		t.Errorf("host %q, want %q", out.Host, c.Host())
	}
	stdout, _, code := runCLI(t, env, "models")
	if code != 0 || !strings.Contains(stdout, ours) || !strings.Contains(stdout, "NAME") || strings.Contains(stdout, other) {
		t.Errorf("models (text) exited %d:\n%s", code, stdout)
	}

	// A model we did not make is refused, and nothing named with it is deleted.
	_, stderr, code := runCLI(t, env, "models", "rm", ours, other)
	if code != exitUsage || !strings.Contains(stderr, "refusing to delete") {
		t.Fatalf("rm of a foreign model: exit %d, %s", code, stderr)
	}
	if findModel(listModels(t, env).Models, ours) == nil {
		t.Fatalf("%s was deleted although the command was refused", ours)
	}

	stdout, stderr, code = runCLI(t, env, "models", "rm", ours, "--json")
	if code != 0 {
		t.Fatalf("rm exited %d: %s", code, stderr)
	}
	var rm struct{ Deleted []string }
	if err := json.Unmarshal([]byte(stdout), &rm); err != nil || len(rm.Deleted) != 1 || rm.Deleted[0] != ours {
		t.Fatalf("rm printed %q (%v)", stdout, err)
	}
	if findModel(listModels(t, env).Models, ours) != nil {
		t.Errorf("%s is still listed after rm", ours)
	}
	if _, err := c.Generate(ctx, other, "hi", ollama.GenerateOptions{NumPredict: 1, Raw: true}); err != nil {
		t.Errorf("the other model no longer works: %v", err)
	}

	// Deleting it again: a clear failure.
	_, stderr, code = runCLI(t, env, "models", "rm", ours)
	if code != exitFailure || !strings.Contains(stderr, "not found") {
		t.Errorf("second rm: exit %d, %s", code, stderr)
	}
}

func TestHumanBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{{0, "0 B"}, {999, "999 B"}, {1000, "1.0 kB"}, {1_234_567, "1.2 MB"}, {4_700_000_000, "4.7 GB"}}
	for _, tt := range tests {
		if got := humanBytes(tt.n); got != tt.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	ages := []struct {
		d    time.Duration
		want string
	}{{10 * time.Second, "just now"}, {time.Minute, "1 minute ago"}, {5 * time.Hour, "5 hours ago"}, {72 * time.Hour, "3 days ago"}, {100 * 24 * time.Hour, "2025-02-21"}}
	for _, tt := range ages {
		if got := ago(now, now.Add(-tt.d)); got != tt.want {
			t.Errorf("ago(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

// TestModelByOllamaName: a model given by its Ollama name runs on the GGUF file behind it, the same as
// naming the file.
func TestModelByOllamaName(t *testing.T) {
	c := ollamatest.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	base := tinyBase(t, t.TempDir(), 11, gguf.TypeF32)
	name := ollamatest.UniqueName(t, "fastslow-byname")
	if err := c.CreateFromGGUF(ctx, name, base, ollama.CreateOptions{SkipLoadCheck: true}); err != nil {
		t.Fatal(err)
	}
	env := []string{"FASTSLOW_HOST=" + c.Host()}
	byFile, stderr, code := runCLI(t, env, "generate", "--model", base, "--max-tokens", "8", "Q: What is")
	if code != 0 {
		t.Fatalf("generate from the file: exit %d: %s", code, stderr)
	}
	byName, stderr, code := runCLI(t, env, "generate", "--model", name, "--max-tokens", "8", "Q: What is")
	if code != 0 {
		t.Fatalf("generate from the Ollama name: exit %d: %s", code, stderr)
	}
	if byName != byFile {
		t.Errorf("by name %q, by file %q: want the same weights, the same greedy text", byName, byFile)
	}
	_, stderr, code = runCLI(t, env, "generate", "--model", "fastslow-no-such-model", "hi")
	if code != exitFailure || !strings.Contains(stderr, `model "fastslow-no-such-model" is not a file here`) {
		t.Errorf("unknown model name: exit %d, %s", code, stderr)
	}
}
