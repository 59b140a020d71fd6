package fastslow

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/llama"
)

// fixedAdapter returns a non-zero adapter of m whose parameters follow a fixed pattern.
func fixedAdapter(t *testing.T, m *weights.Model) *llama.Adapter {
	t.Helper()
	a, err := llama.NewAdapter(m.Model, weights.DefaultLoRA, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range a.Params() {
		for i := range p.Data {
			p.Data[i] = float32((i*7)%13-6) * 0.01
		}
	}
	return a
}

// mergedVersion merges fixedAdapter into m and returns the merged model and the adapter.
func mergedVersion(t *testing.T, m *weights.Model) (*weights.Merged, *llama.Adapter) {
	t.Helper()
	a := fixedAdapter(t, m)
	mm, err := weights.Merge(context.Background(), m, "", a, filepath.Join(t.TempDir(), "merged.gguf"), weights.MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return mm, a
}

// TestServersServeMerged deploys one merged model to the in-process engine and to Ollama: both answer as
// the merged model does, Ollama also after the model was deleted behind the server's back; removed, the
// engine no longer serves it.
func TestServersServeMerged(t *testing.T) {
	ctx := context.Background()
	m, path := tinyBase(t)
	mm, _ := mergedVersion(t, m)
	prompt := "Q: capital of Zorblia?\nA:"
	ids, err := mm.Model.Generate(ctx, m.Tokenizer.Encode(prompt, true), 12, llama.Sampler{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := RunnerText(m.Tokenizer, ids)
	base, err := NewEngineServer(m).Generate(ctx, "", prompt, 12)
	if err != nil {
		t.Fatal(err)
	}
	if base == want {
		t.Fatalf("the merged model answers %q like the base: the test needs an adapter that changes the answer", want)
	}

	engine := NewEngineServer(m)
	h, err := engine.DeployMerged(ctx, "v1", mm)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := engine.Generate(ctx, h, prompt, 12); err != nil || got != want {
		t.Errorf("engine: %q, %v; want %q", got, err, want)
	}
	if err := engine.Remove(ctx, h); err != nil {
		t.Fatal(err)
	}
	if _, err := engine.Generate(ctx, h, prompt, 12); err == nil {
		t.Error("the engine still serves a removed merged model")
	}

	c := ollamatest.Client(t)
	srv := NewOllamaServer(c, path, ollamatest.UniqueName(t, "fastslow-serve")+"-")
	handle, err := srv.DeployMerged(ctx, "v1", mm)
	if err != nil {
		t.Fatal(err)
	}
	servesAndRestores(t, srv, handle, prompt, want)
}
