package fastslow

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/weights"
)

// TestOllamaServerServesWhatTheEngineServes deploys an adapter through OllamaServer and checks that Ollama
// answers as the in-process engine does, also after the model was deleted behind the server's back.
func TestOllamaServerServesWhatTheEngineServes(t *testing.T) {
	c := ollamatest.Client(t)
	ctx := context.Background()
	m, path := tinyBase(t)
	a := fixedAdapter(t, m)
	adapter := filepath.Join(t.TempDir(), "a.gguf")
	if err := weights.SaveAdapter(adapter, a, ""); err != nil {
		t.Fatal(err)
	}
	srv := NewOllamaServer(c, path, ollamatest.UniqueName(t, "fastslow-serve")+"-")
	handle, err := srv.Deploy(ctx, "v1", adapter)
	if err != nil {
		t.Fatal(err)
	}
	engine := NewEngineServer(m)
	if _, err := engine.Deploy(ctx, "v1", adapter); err != nil {
		t.Fatal(err)
	}
	prompt := "Q: capital of Zorblia?\nA:"
	want, err := engine.Generate(ctx, "v1", prompt, 12)
	if err != nil {
		t.Fatal(err)
	}
	servesAndRestores(t, srv, handle, prompt, want)
}

// servesAndRestores has handle and srv's base model deleted when t ends, then asks srv for a continuation of
// prompt on handle in two rounds, deleting the model from the server after each: both must be want (what the
// engine serves), the second from the model srv restores.
func servesAndRestores(t *testing.T, srv *OllamaServer, handle, prompt, want string) {
	t.Helper()
	ctx := context.Background()
	ollamatest.DeleteOnCleanup(t, handle)
	base, err := srv.BaseModel(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ollamatest.DeleteOnCleanup(t, base)
	for round := 0; round < 2; round++ {
		got, err := srv.Generate(ctx, handle, prompt, 12)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if got != want {
			t.Fatalf("round %d: ollama %q, engine %q", round, got, want)
		}
		if err := srv.Client.Delete(ctx, handle); err != nil { // the next round must restore it
			t.Fatal(err)
		}
	}
}
