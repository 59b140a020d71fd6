package ollama_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/internal/ollamatest"
)

func TestUnreachable(t *testing.T) {
	addr := ollamatest.ClosedAddr(t)
	c, err := ollama.New(addr, ollama.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	err = c.Ping(ctx)
	if !errors.Is(err, ollama.ErrUnreachable) {
		t.Fatalf("Ping = %v, want ErrUnreachable", err)
	}
	if want := "ollama is not reachable at http://" + addr + ": "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Ping error %q does not start with %q", err, want)
	}
	calls := map[string]func() error{
		"List":     func() error { _, err := c.List(ctx); return err },
		"Generate": func() error { _, err := c.Generate(ctx, "m", "hi", ollama.GenerateOptions{}); return err },
		"Embed":    func() error { _, err := c.Embed(ctx, "m", "hi"); return err },
		"Delete":   func() error { return c.Delete(ctx, "m") },
		"UploadBlob": func() error {
			p := filepath.Join(t.TempDir(), "f")
			os.WriteFile(p, []byte("x"), 0o644)
			_, err := c.UploadBlob(ctx, p)
			return err
		},
	}
	for name, call := range calls {
		err := call()
		if !errors.Is(err, ollama.ErrUnreachable) || !strings.Contains(err.Error(), addr) {
			t.Errorf("%s = %v, want ErrUnreachable naming %s", name, err, addr)
		}
	}
}

func TestCanceledContextIsNotUnreachable(t *testing.T) {
	c := ollamatest.Client(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.List(ctx)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ollama.ErrUnreachable) {
		t.Errorf("List with a canceled context = %v, want context.Canceled only", err)
	}
}

// newBase creates a tiny llama model on the server and returns its name and
// GGUF path.
func newBase(t *testing.T, c *ollama.Client, seed uint64) (name, path string) {
	t.Helper()
	name = ollamatest.UniqueName(t, "fastslow-test-")
	path = writeTinyLlama(t, t.TempDir(), "base.gguf", seed)
	if err := c.CreateFromGGUF(context.Background(), name, path, ollama.CreateOptions{}); err != nil {
		t.Fatalf("CreateFromGGUF: %v", err)
	}
	return name, path
}

func TestCreateGenerateListDelete(t *testing.T) {
	c := ollamatest.Client(t)
	ctx := context.Background()
	name, _ := newBase(t, c, 1)

	models, err := c.ListPrefix(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if len(models) != 1 || models[0].Name != name+":latest" || models[0].Family != "llama" || models[0].Digest == "" {
		t.Fatalf("ListPrefix(%q) = %+v, want the one new llama model", name, models)
	}

	const prompt = "the cat sat on"
	g1, err := c.Generate(ctx, name, prompt, ollama.GenerateOptions{NumPredict: 8})
	if err != nil {
		t.Fatal(err)
	}
	if g1.EvalCount != 8 || g1.DoneReason != "length" {
		t.Errorf("EvalCount %d, DoneReason %q; want 8, length", g1.EvalCount, g1.DoneReason)
	}
	// The prompt is all single-byte pieces, so its token count is known:
	// one per character, "▁" for each space and the start, plus BOS.
	if want := len(prompt) + 1 + 1; g1.PromptEvalCount != want {
		t.Errorf("PromptEvalCount = %d, want %d", g1.PromptEvalCount, want)
	}
	// Context is the retokenized prompt+text, without BOS.
	if len(g1.Context) < len(prompt)+1 || g1.Context[0] == 1 {
		t.Errorf("Context = %v, want the prompt's tokens without BOS first", g1.Context)
	}
	g2, err := c.Generate(ctx, name, prompt, ollama.GenerateOptions{NumPredict: 8})
	if err != nil {
		t.Fatal(err)
	}
	if g1.Text != g2.Text || !slices.Equal(g1.Context, g2.Context) {
		t.Errorf("greedy generation is not deterministic: %q then %q", g1.Text, g2.Text)
	}
	raw, err := c.Generate(ctx, name, prompt, ollama.GenerateOptions{NumPredict: 8, Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	// The default template is the bare prompt, so raw and templated agree.
	if raw.Text != g1.Text || raw.Context != nil {
		t.Errorf("raw generation = %q with context %v, want %q and no context", raw.Text, raw.Context, g1.Text)
	}

	if err := c.Delete(ctx, name); err != nil {
		t.Fatal(err)
	}
	if models, err := c.ListPrefix(ctx, name); err != nil || len(models) != 0 {
		t.Errorf("after Delete, ListPrefix = %v, %v", models, err)
	}
	if _, err := c.Generate(ctx, name, prompt, ollama.GenerateOptions{}); !errors.Is(err, ollama.ErrModelNotFound) {
		t.Errorf("Generate on a deleted model = %v, want ErrModelNotFound", err)
	}
}

func TestSamplingOptions(t *testing.T) {
	c := ollamatest.Client(t)
	ctx := context.Background()
	name, _ := newBase(t, c, 1)
	gen := func(g ollama.GenerateOptions) ollama.Generation {
		t.Helper()
		out, err := c.Generate(ctx, name, "the mat", g)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	greedy := gen(ollama.GenerateOptions{NumPredict: 12})
	if greedy.Text == "" {
		t.Fatal("greedy generation is empty")
	}
	// A seed fixes sampling; this tiny model has a flat distribution, so
	// different seeds at a high temperature give different texts.
	a := gen(ollama.GenerateOptions{NumPredict: 12, Temperature: 5, Seed: 7})
	b := gen(ollama.GenerateOptions{NumPredict: 12, Temperature: 5, Seed: 7})
	d := gen(ollama.GenerateOptions{NumPredict: 12, Temperature: 5, Seed: 8})
	if a.Text != b.Text {
		t.Errorf("same seed, different texts: %q, %q", a.Text, b.Text)
	}
	if a.Text == d.Text {
		t.Errorf("seeds 7 and 8 gave the same text %q", a.Text)
	}
	// A stop string cuts the text before it.
	runes := []rune(greedy.Text)
	stop := string(runes[len(runes)/2])
	s := gen(ollama.GenerateOptions{NumPredict: 12, Stop: []string{stop}})
	if strings.Contains(s.Text, stop) || !strings.HasPrefix(greedy.Text, s.Text) {
		t.Errorf("stop %q: got %q from greedy %q", stop, s.Text, greedy.Text)
	}
	if _, err := c.Generate(ctx, name, "", ollama.GenerateOptions{}); err == nil {
		t.Error("Generate accepted an empty prompt")
	}
}

// countingTransport counts blob uploads.
type countingTransport struct{ uploads atomic.Int32 }

func (ct *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/api/blobs/") {
		ct.uploads.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestUploadBlobIdempotent(t *testing.T) {
	base := ollamatest.Client(t)
	ct := &countingTransport{}
	c, err := ollama.New(base.Host(), ollama.Options{HTTPClient: &http.Client{Transport: ct}})
	if err != nil {
		t.Fatal(err)
	}
	// Unique content, so the server cannot have it from another run.
	p := filepath.Join(t.TempDir(), "blob.bin")
	content := []byte("fastslow upload test " + time.Now().Format(time.RFC3339Nano))
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(content)
	want := "sha256:" + hex.EncodeToString(sum[:])
	for i := range 2 {
		got, err := c.UploadBlob(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("digest %q, want %q", got, want)
		}
		if n := ct.uploads.Load(); n != 1 {
			t.Fatalf("after upload %d: %d POSTs, want 1", i+1, n)
		}
	}
	if _, err := c.UploadBlob(context.Background(), filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("UploadBlob of a missing file succeeded")
	}
}

func TestUnknownModel(t *testing.T) {
	c := ollamatest.Client(t)
	ctx := context.Background()
	missing := ollamatest.UniqueName(t, "fastslow-missing-")
	adapter := writeTinyLoRA(t, t.TempDir(), "a.gguf", "llama", 1, 0.1)
	calls := map[string]func() error{
		"Generate":      func() error { _, err := c.Generate(ctx, missing, "hi", ollama.GenerateOptions{}); return err },
		"Embed":         func() error { _, err := c.Embed(ctx, missing, "hi"); return err },
		"Delete":        func() error { return c.Delete(ctx, missing) },
		"ResolveGGUF":   func() error { _, err := c.ResolveGGUF(ctx, missing); return err },
		"CreateAdapted": func() error { return c.CreateAdapted(ctx, missing+"-a", missing, adapter) },
	}
	for name, call := range calls {
		err := call()
		if !errors.Is(err, ollama.ErrModelNotFound) || !strings.Contains(err.Error(), missing) {
			t.Errorf("%s = %v, want ErrModelNotFound naming the model", name, err)
		}
	}
}

func TestCreateAdapted(t *testing.T) {
	c := ollamatest.Client(t)
	ctx := context.Background()
	base, basePath := newBase(t, c, 3)
	dir := t.TempDir()
	const prompt = "the cat"
	opts := ollama.GenerateOptions{NumPredict: 16}
	want, err := c.Generate(ctx, base, prompt, opts)
	if err != nil {
		t.Fatal(err)
	}

	// lora_b = 0: the adapter is applied but changes nothing.
	zero := ollamatest.UniqueName(t, "fastslow-test-")
	if err := c.CreateAdapted(ctx, zero, base, writeTinyLoRA(t, dir, "zero.gguf", "llama", 1, 0)); err != nil {
		t.Fatal(err)
	}
	got, err := c.Generate(ctx, zero, prompt, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got.Text != want.Text {
		t.Errorf("zero adapter changed the output: %q, base %q", got.Text, want.Text)
	}

	// A strong adapter changes it.
	strong := ollamatest.UniqueName(t, "fastslow-test-")
	if err := c.CreateAdapted(ctx, strong, base, writeTinyLoRA(t, dir, "strong.gguf", "llama", 1, 3)); err != nil {
		t.Fatal(err)
	}
	got, err = c.Generate(ctx, strong, prompt, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got.Text == want.Text {
		t.Errorf("strong adapter left the output unchanged: %q", got.Text)
	}

	// The adapted model's weights are still the base's GGUF.
	p, err := c.ResolveGGUF(ctx, strong)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := ollamatest.FileDigest(t, p), ollamatest.FileDigest(t, basePath); a != b {
		t.Errorf("ResolveGGUF(%q) = %s, which is not the base GGUF", strong, p)
	}
}

func TestRejectedAdapterLeavesNothing(t *testing.T) {
	c := ollamatest.Client(t)
	ctx := context.Background()
	base, _ := newBase(t, c, 4)
	dir := t.TempDir()
	notGGUF := filepath.Join(dir, "adapter.bin")
	if err := os.WriteFile(notGGUF, []byte("this is not a GGUF file at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, path string }{
		// llama.cpp refuses an adapter for another architecture when loading.
		{"wrong architecture", writeTinyLoRA(t, dir, "qwen.gguf", "qwen2", 1, 0.1)},
		// The server refuses a file that is not GGUF when creating.
		{"not a GGUF", notGGUF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := ollamatest.UniqueName(t, "fastslow-test-")
			err := c.CreateAdapted(ctx, name, base, tt.path)
			var se *ollama.ServerError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), name) {
				t.Fatalf("CreateAdapted = %v, want a ServerError naming %q", err, name)
			}
			if models, err := c.ListPrefix(ctx, name); err != nil || len(models) != 0 {
				t.Errorf("after the failed create, ListPrefix = %v, %v; want nothing", models, err)
			}
			// The base is unharmed.
			if _, err := c.Generate(ctx, base, "the", ollama.GenerateOptions{NumPredict: 2}); err != nil {
				t.Errorf("base after a failed create: %v", err)
			}
		})
	}
}

func TestResolveGGUF(t *testing.T) {
	c := ollamatest.Client(t)
	ctx := context.Background()
	name, path := newBase(t, c, 5)
	got, err := c.ResolveGGUF(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if ollamatest.FileDigest(t, got) != ollamatest.FileDigest(t, path) {
		t.Errorf("ResolveGGUF = %s, which differs from the GGUF the model was made from", got)
	}
}

func TestEmbed(t *testing.T) {
	c := ollamatest.Client(t)
	ctx := context.Background()
	name, _ := newBase(t, c, 6)
	a, err := c.Embed(ctx, name, "the cat sat")
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Embed(ctx, name, "on the mat")
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 32 || len(b) != 32 {
		t.Fatalf("embedding sizes %d, %d; want the model's width 32", len(a), len(b))
	}
	var norm float64
	for _, v := range a {
		norm += float64(v) * float64(v)
	}
	if math.Abs(norm-1) > 1e-3 {
		t.Errorf("|embedding|² = %v, want 1", norm)
	}
	if slices.Equal(a, b) {
		t.Error("different texts have equal embeddings")
	}

	// The hidden state is the same vector before normalization.
	h, err := c.HiddenState(ctx, name, "the cat sat")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != len(a) {
		t.Fatalf("hidden state has %d values, embedding %d", len(h), len(a))
	}
	var hn float64
	for _, v := range h {
		hn += float64(v) * float64(v)
	}
	hn = math.Sqrt(hn)
	if math.Abs(hn-1) < 1e-2 {
		t.Errorf("|hidden state| = %v; want it unnormalized", hn)
	}
	for i := range h {
		if d := math.Abs(float64(h[i])/hn - float64(a[i])); d > 1e-4 {
			t.Fatalf("hidden state / its norm differs from the embedding at %d by %g", i, d)
		}
	}
	if _, err := c.HiddenState(ctx, name+"-missing", "x"); !errors.Is(err, ollama.ErrModelNotFound) {
		t.Errorf("HiddenState of a missing model = %v, want ErrModelNotFound", err)
	}
}

func TestCreateOptions(t *testing.T) {
	c := ollamatest.Client(t)
	ctx := context.Background()
	dir := t.TempDir()
	path := writeTinyLlamaFileType(t, dir, "f16label.gguf", 7, 1)
	opts := ollama.GenerateOptions{NumPredict: 10}
	gen := func(model, prompt string, g ollama.GenerateOptions) ollama.Generation {
		t.Helper()
		out, err := c.Generate(ctx, model, prompt, g)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	// A template wraps the prompt: a templated generation equals a raw
	// generation of the wrapped text.
	tmpl := ollamatest.UniqueName(t, "fastslow-test-")
	err := c.CreateFromGGUF(ctx, tmpl, path, ollama.CreateOptions{Template: "Q: {{ .Prompt }}\nA:"})
	if err != nil {
		t.Fatal(err)
	}
	got := gen(tmpl, "the cat", opts)
	raw := opts
	raw.Raw = true
	if want := gen(tmpl, "Q: the cat\nA:", raw); got.Text != want.Text {
		t.Errorf("templated generation %q, raw generation of the templated prompt %q", got.Text, want.Text)
	}

	// Default parameters apply when a request does not set them.
	plain := gen(tmpl, "the mat", opts)
	runes := []rune(plain.Text)
	stop := string(runes[len(runes)/2])
	withStop := ollamatest.UniqueName(t, "fastslow-test-")
	err = c.CreateFromGGUF(ctx, withStop, path, ollama.CreateOptions{
		Template:   "Q: {{ .Prompt }}\nA:",
		Parameters: map[string]any{"stop": []string{stop}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if s := gen(withStop, "the mat", opts).Text; strings.Contains(s, stop) || !strings.HasPrefix(plain.Text, s) {
		t.Errorf("default stop %q: got %q from %q", stop, s, plain.Text)
	}

	// Quantizing makes a Q8_0 model that still runs.
	q := ollamatest.UniqueName(t, "fastslow-test-")
	if err := c.CreateFromGGUF(ctx, q, path, ollama.CreateOptions{Quantize: "q8_0"}); err != nil {
		t.Fatal(err)
	}
	models, err := c.ListPrefix(ctx, q)
	if err != nil || len(models) != 1 || models[0].QuantizationLevel != "Q8_0" {
		t.Errorf("ListPrefix(%q) = %+v, %v; want one Q8_0 model", q, models, err)
	}
	gen(q, "the cat", opts)

	// A file that is not GGUF is refused, and leaves nothing.
	bad := ollamatest.UniqueName(t, "fastslow-test-")
	junk := filepath.Join(dir, "junk.gguf")
	if err := os.WriteFile(junk, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	var se *ollama.ServerError
	if err := c.CreateFromGGUF(ctx, bad, junk, ollama.CreateOptions{}); !errors.As(err, &se) {
		t.Errorf("CreateFromGGUF of junk = %v, want a ServerError", err)
	}
	if models, _ := c.ListPrefix(ctx, bad); len(models) != 0 {
		t.Errorf("junk left %+v", models)
	}
}

func TestDeleteUnloads(t *testing.T) {
	c := ollamatest.Client(t)
	ctx := context.Background()
	name, _ := newBase(t, c, 8) // CreateFromGGUF loads it
	isLoaded := func() bool {
		t.Helper()
		names, err := c.Loaded(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Contains(names, name+":latest")
	}
	if !isLoaded() {
		t.Fatalf("%s is not loaded after create", name)
	}
	if err := c.Delete(ctx, name); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for isLoaded() {
		if time.Now().After(deadline) {
			t.Fatalf("%s is still loaded 10 s after Delete", name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
