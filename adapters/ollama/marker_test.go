package ollama_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"

	ollamaapi "github.com/ollama/ollama/api"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/internal/ollamatest"
)

// TestNeverReplacesForeignModels: a model a user made (here through Ollama's own API, as `ollama create`
// does) is not replaced by a create of the same name, by either kind of create, and keeps its digest; a
// copy of fastslow's own model under another name is not taken for fastslow's; a client told to replace
// foreign models does.
func TestNeverReplacesForeignModels(t *testing.T) {
	c := ollamatest.Client(t)
	ctx := context.Background()
	base, basePath := newBase(t, c, 5)
	if ok, err := c.Made(ctx, base); err != nil || !ok {
		t.Fatalf("Made(%s) = %v, %v; want true", base, ok, err)
	}
	u, err := url.Parse(c.Host())
	if err != nil {
		t.Fatal(err)
	}
	api := ollamaapi.NewClient(u, http.DefaultClient)
	stream := false
	userModel := ollamatest.UniqueName(t, "my-precious-model-")
	digest, err := c.UploadBlob(ctx, basePath)
	if err != nil {
		t.Fatal(err)
	}
	for name, req := range map[string]*ollamaapi.CreateRequest{
		userModel:         {Model: userModel, Files: map[string]string{"model.gguf": digest}, Stream: &stream},
		userModel + "-cp": {Model: userModel + "-cp", From: base, Stream: &stream}, // inherits fastslow's license entry
	} {
		if err := api.Create(ctx, req, func(ollamaapi.ProgressResponse) error { return nil }); err != nil {
			t.Fatalf("create %s through the Ollama API: %v", name, err)
		}
		t.Cleanup(func() { _ = c.Delete(context.Background(), name) })
	}
	adapter := writeTinyLoRA(t, t.TempDir(), "a.gguf", "llama", 1, 3)
	for _, name := range []string{userModel, userModel + "-cp"} {
		before := ollamatest.ModelDigest(t, c, name)
		if ok, err := c.Made(ctx, name); err != nil || ok {
			t.Errorf("Made(%s) = %v, %v; want false", name, ok, err)
		}
		if err := c.CreateAdapted(ctx, name, base, adapter); !errors.Is(err, ollama.ErrForeignModel) {
			t.Errorf("CreateAdapted over %s = %v, want ErrForeignModel", name, err)
		}
		if err := c.CreateFromGGUF(ctx, name, basePath, ollama.CreateOptions{SkipLoadCheck: true}); !errors.Is(err, ollama.ErrForeignModel) {
			t.Errorf("CreateFromGGUF over %s = %v, want ErrForeignModel", name, err)
		}
		if after := ollamatest.ModelDigest(t, c, name); after != before {
			t.Errorf("%s changed: digest %s -> %s", name, before, after)
		}
	}
	// fastslow's own models are replaced as before.
	if err := c.CreateAdapted(ctx, base, base, adapter); err != nil {
		t.Fatalf("replacing fastslow's own model: %v", err)
	}
	if err := c.ReplacingForeign().CreateFromGGUF(ctx, userModel, basePath, ollama.CreateOptions{SkipLoadCheck: true}); err != nil {
		t.Fatalf("forced replace: %v", err)
	}
	if ok, _ := c.Made(ctx, userModel); !ok {
		t.Error("a model fastslow replaced lacks its marker")
	}
}
