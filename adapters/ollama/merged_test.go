package ollama_test

import (
	"context"
	"errors"
	"os"
	"reflect"
	"testing"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/internal/ollamatest"
)

// TestCreateMerged creates a model from a whole GGUF with the settings of a base model: the new model has
// the base's template, system prompt, parameters and license, and answers with its own weights.
func TestCreateMerged(t *testing.T) {
	c := ollamatest.Client(t)
	ctx := context.Background()
	dir := t.TempDir()
	basePath := writeTinyLlama(t, dir, "base.gguf", 11)
	mergedPath := writeTinyLlama(t, dir, "merged.gguf", 12) // stands in for the base with an adapter folded in

	base := ollamatest.UniqueName(t, "fastslow-test-")
	want := ollama.Settings{
		Template: "Q: {{ .Prompt }}\nA:",
		System:   "Answer briefly.",
		Parameters: map[string]any{
			"stop":        []string{"\n\n", "Q:"},
			"temperature": float32(0.25),
			"top_k":       int64(7),
			"num_ctx":     int64(256),
		},
		License: "Test license.\nSecond line.",
	}
	err := c.CreateFromGGUF(ctx, base, basePath, ollama.CreateOptions{
		Template: want.Template, System: want.System, Parameters: want.Parameters, License: want.License,
	})
	if err != nil {
		t.Fatal(err)
	}
	merged := ollamatest.UniqueName(t, "fastslow-test-")
	if err := c.CreateMerged(ctx, merged, base, mergedPath); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{base, merged} {
		got, err := c.Settings(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if got.Template != want.Template || got.System != want.System || got.License != want.License ||
			!reflect.DeepEqual(got.Parameters, want.Parameters) {
			t.Errorf("%s: settings\n%+v\nwant\n%+v", name, got, want)
		}
	}

	// The merged model applies the base's template to its own weights: a templated generation equals a raw
	// one of the templated prompt, and differs from the base's.
	opts := ollama.GenerateOptions{NumPredict: 10}
	raw := opts
	raw.Raw = true
	gen := func(model, prompt string, g ollama.GenerateOptions) string {
		t.Helper()
		out, err := c.Generate(ctx, model, prompt, g)
		if err != nil {
			t.Fatal(err)
		}
		return out.Text
	}
	templated := gen(merged, "the cat", opts)
	if r := gen(merged, "Q: the cat\nA:", raw); templated != r {
		t.Errorf("merged model: templated %q, raw of the templated prompt %q", templated, r)
	}
	if b := gen(base, "the cat", opts); b == templated {
		t.Errorf("the merged model answers %q like the base: its weights were not used", b)
	}

	// What kind of model each is, and the files the merged one is made of.
	adapted := ollamatest.UniqueName(t, "fastslow-test-")
	if err := c.CreateAdapted(ctx, adapted, base, writeTinyLoRA(t, dir, "a.gguf", "llama", 1, 0.1)); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{base: false, merged: false, adapted: true} {
		st, err := c.Settings(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if st.Adapter != want {
			t.Errorf("%s: Adapter = %v, want %v", name, st.Adapter, want)
		}
	}
	blobs, err := c.Blobs(merged)
	if os.Getenv("OLLAMA_MODELS") != "" && err != nil {
		t.Fatalf("Blobs with OLLAMA_MODELS set: %v", err)
	}
	if err == nil {
		st, _ := os.Stat(mergedPath)
		found := false
		for _, b := range blobs {
			if b.Digest == ollamatest.FileDigest(t, mergedPath) {
				found = b.Size == st.Size() && b.MediaType == "application/vnd.ollama.image.model"
			}
		}
		if !found {
			t.Errorf("Blobs(%s) = %+v, want the merged GGUF (%d bytes) as the model layer", merged, blobs, st.Size())
		}
	} else {
		t.Logf("Blobs not checked: %v", err)
	}

	// An unknown base is an error that leaves nothing behind.
	other := ollamatest.UniqueName(t, "fastslow-test-")
	if err := c.CreateMerged(ctx, other, "fastslow-no-such-model", mergedPath); !errors.Is(err, ollama.ErrModelNotFound) {
		t.Errorf("CreateMerged from an unknown model = %v, want ErrModelNotFound", err)
	}
	if models, _ := c.ListPrefix(ctx, other); len(models) != 0 {
		t.Errorf("a failed CreateMerged left %+v", models)
	}
}
