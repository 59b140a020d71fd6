package main

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	ollamaapi "github.com/ollama/ollama/api"

	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/weights/gguf"
)

// TestDeployKeepsForeignModels: `deploy --name` of a model the user made (with Ollama's own API, as `ollama
// create` does) fails, saying why and how to force it, and leaves the model as it was; --force replaces it.
func TestDeployKeepsForeignModels(t *testing.T) {
	c := ollamatest.Client(t)
	ctx := context.Background()
	dir := t.TempDir()
	base := tinyBase(t, dir, 21, gguf.TypeF32)
	data := factsFile(t, dir, "facts.jsonl", 4)
	adapter := filepath.Join(dir, "a.gguf")
	if _, stderr, code := runCLI(t, nil, "train", "--base", base, "--data", data, "--out", adapter, "--steps", "2", "--json"); code != 0 {
		t.Fatalf("train exited %d: %s", code, stderr)
	}
	digest, err := c.UploadBlob(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(c.Host())
	user := ollamatest.UniqueName(t, "my-precious-model")
	stream := false
	req := &ollamaapi.CreateRequest{Model: user, Files: map[string]string{"model.gguf": digest}, Stream: &stream}
	if err := ollamaapi.NewClient(u, http.DefaultClient).Create(ctx, req, func(ollamaapi.ProgressResponse) error { return nil }); err != nil {
		t.Fatal(err)
	}
	ollamatest.DeleteOnCleanup(t, user)
	before := ollamatest.ModelDigest(t, c, user)
	env := []string{"OLLAMA_HOST=" + c.Host()}
	stdout, stderr, code := runCLI(t, env, "deploy", "--base", base, "--adapter", adapter, "--name", user)
	if code != exitFailure || !strings.Contains(stderr, "did not make") || !strings.Contains(stderr, "--force") || stdout != "" {
		t.Fatalf("deploy over a user's model: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if after := ollamatest.ModelDigest(t, c, user); after != before {
		t.Fatalf("the user's model changed: %s -> %s", before, after)
	}
	if _, stderr, code := runCLI(t, env, "deploy", "--base", base, "--adapter", adapter, "--name", user, "--force", "--json"); code != 0 {
		t.Fatalf("deploy --force: exit %d: %s", code, stderr)
	}
	if ok, err := c.Made(ctx, user); err != nil || !ok {
		t.Errorf("after deploy --force: Made = %v, %v", ok, err)
	}
}
