package ollama

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	ollamaapi "github.com/ollama/ollama/api"
	ollamamodel "github.com/ollama/ollama/types/model"
)

// Model describes a model the server has.
type Model struct {
	// Name is the full name, with the tag ("fastslow-x:latest").
	Name string
	// Digest identifies this version of the model (its manifest).
	Digest string
	// Size is the total size of its files in bytes.
	Size int64
	// ModifiedAt is when it was created or last changed.
	ModifiedAt time.Time
	// Family is the architecture, e.g. "llama".
	Family string
	// ParameterSize and QuantizationLevel are the server's labels, e.g.
	// "1.2M" and "F32".
	ParameterSize, QuantizationLevel string
}

// CreateOptions configure a model made from a GGUF.
type CreateOptions struct {
	// Quantize, if set, asks the server to quantize an F32/F16 GGUF, e.g.
	// "q8_0" or "q4_K_M".
	Quantize string
	// Template is the prompt template (Go template syntax, as in a
	// Modelfile); empty means the server's default, the bare prompt.
	Template string
	// System is the default system prompt; empty means none.
	System string
	// Parameters are default request options, e.g. {"stop": []string{"\n"}}.
	Parameters map[string]any
	// License is the model's license text; empty means none.
	License string
	// SkipLoadCheck skips loading the new model once to prove that the
	// runner accepts it. The check catches GGUFs that the server stores but
	// cannot run.
	SkipLoadCheck bool
}

// UploadBlob makes the file at path available to the server as a blob and
// returns its digest ("sha256:<hex>"). A blob the server already has is not
// sent again.
func (c *Client) UploadBlob(ctx context.Context, path string) (string, error) {
	digest, err := FileDigest(path)
	if err != nil {
		return "", fmt.Errorf("ollama upload: %w", err)
	}
	has, err := c.hasBlob(ctx, digest)
	if err != nil {
		return "", c.wrap(ctx, "upload", "", err)
	}
	if has {
		return digest, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("ollama upload: %w", err)
	}
	defer f.Close()
	if err := c.api.CreateBlob(ctx, digest, f); err != nil {
		return "", fmt.Errorf("upload %s: %w", filepath.Base(path), c.wrap(ctx, "upload", "", err))
	}
	return digest, nil
}

// FileDigest returns the sha256 digest of the file at path in the server's notation ("sha256:" and 64 hex
// digits), the name the server gives the file as a blob.
func FileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// hasBlob asks the server whether it has a blob (HEAD /api/blobs/:digest).
func (c *Client) hasBlob(ctx context.Context, digest string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, c.base.JoinPath("/api/blobs", digest).String(), nil)
	if err != nil {
		return false, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	default:
		return false, ollamaapi.StatusError{StatusCode: resp.StatusCode, Status: resp.Status}
	}
}

// CreateFromGGUF creates (or replaces) the model name from the GGUF file at
// ggufPath, uploading the file first if the server lacks it. If anything
// fails, no new model is left under name.
func (c *Client) CreateFromGGUF(ctx context.Context, name, ggufPath string, co CreateOptions) error {
	req := &ollamaapi.CreateRequest{
		Quantize:   co.Quantize,
		Template:   co.Template,
		System:     co.System,
		Parameters: co.Parameters,
		License:    co.License, // create adds the marker; "" means none
	}
	return c.createGGUF(ctx, name, ggufPath, req, !co.SkipLoadCheck)
}

// createGGUF uploads the GGUF at ggufPath unless the server has it and creates name from it with the rest of
// req (see create for loadCheck).
func (c *Client) createGGUF(ctx context.Context, name, ggufPath string, req *ollamaapi.CreateRequest, loadCheck bool) error {
	digest, err := c.UploadBlob(ctx, ggufPath)
	if err != nil {
		return fmt.Errorf("create %q: %w", name, err)
	}
	req.Model = name
	req.Files = map[string]string{"model.gguf": digest}
	return c.create(ctx, req, loadCheck)
}

// CreateAdapted creates (or replaces) the model name as the existing model
// from plus the LoRA adapter GGUF at adapterPath. The new model is loaded
// once, so an adapter the runner rejects is reported here and not at the
// first request; if anything fails, no new model is left under name.
func (c *Client) CreateAdapted(ctx context.Context, name, from, adapterPath string) error {
	// Check from locally: for an unknown name the server would try to pull
	// it from the registry, which is slow, needs internet, and on v0.6.5
	// goes on to create an adapter-only model.
	if _, err := c.show(ctx, from); err != nil {
		return fmt.Errorf("create %q from %q: %w", name, from, err)
	}
	digest, err := c.UploadBlob(ctx, adapterPath)
	if err != nil {
		return fmt.Errorf("create %q: %w", name, err)
	}
	req := &ollamaapi.CreateRequest{
		Model:    name,
		From:     from,
		Adapters: map[string]string{"adapter.gguf": digest},
	}
	return c.create(ctx, req, true)
}

// create sends a create request and, if it or the load check fails, removes
// whatever the failed attempt left under the name. A model that was there
// before and is untouched stays.
func (c *Client) create(ctx context.Context, req *ollamaapi.CreateRequest, loadCheck bool) error {
	name := req.Model
	before, err := c.digestOf(ctx, name)
	if err != nil {
		return fmt.Errorf("create %q: %w", name, err)
	}
	if err := c.checkReplace(ctx, name, before); err != nil {
		return fmt.Errorf("create %q: %w", name, err)
	}
	req.License = withMarker(req.License, name)
	stream := false
	req.Stream = &stream
	err = c.api.Create(ctx, req, func(ollamaapi.ProgressResponse) error { return nil })
	if err != nil {
		// No model name for wrap: a 404 here is about a base or blob, not name.
		err = c.wrap(ctx, "create "+strconv.Quote(name), "", err)
	} else if loadCheck {
		if lerr := c.load(ctx, name); lerr != nil {
			err = fmt.Errorf("ollama create %q: the server stored the model but cannot run it: %w", name, lerr)
		}
	}
	if err == nil {
		return nil
	}
	if cerr := c.cleanupFailedCreate(name, before); cerr != nil {
		return errors.Join(err, cerr)
	}
	return err
}

// cleanupFailedCreate deletes name if a failed create changed it. It uses its
// own context: cleanup must run even when the caller's context was canceled.
func (c *Client) cleanupFailedCreate(name, before string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	after, err := c.digestOf(ctx, name)
	if err != nil {
		return fmt.Errorf("check for a half-made model %q: %w", name, err)
	}
	if after == "" || after == before {
		return nil
	}
	if err := c.Delete(ctx, name); err != nil && !errors.Is(err, ErrModelNotFound) {
		return fmt.Errorf("remove half-made model %q: %w", name, err)
	}
	return nil
}

// load loads a model into a runner (a generate request without a prompt) with
// the same runner options as later requests, so they reuse the runner.
func (c *Client) load(ctx context.Context, name string) error {
	stream := false
	req := &ollamaapi.GenerateRequest{
		Model:     name,
		Stream:    &stream,
		KeepAlive: c.keepAlive(),
		Options:   c.runnerOptions(),
	}
	err := c.api.Generate(ctx, req, func(ollamaapi.GenerateResponse) error { return nil })
	if err != nil {
		return c.wrap(ctx, "load", name, err)
	}
	return nil
}

// Unload asks the server to stop the model's runner now, freeing its memory.
// A model that is not loaded is not an error.
func (c *Client) Unload(ctx context.Context, name string) error {
	stream := false
	req := &ollamaapi.GenerateRequest{
		Model:     name,
		Stream:    &stream,
		KeepAlive: &ollamaapi.Duration{Duration: 0},
	}
	if err := c.api.Generate(ctx, req, func(ollamaapi.GenerateResponse) error { return nil }); err != nil {
		return c.wrap(ctx, "unload", name, err)
	}
	return nil
}

// Loaded returns the names of the models the server has in memory.
func (c *Client) Loaded(ctx context.Context) ([]string, error) {
	resp, err := c.api.ListRunning(ctx)
	if err != nil {
		return nil, c.wrap(ctx, "list loaded models", "", err)
	}
	names := make([]string, 0, len(resp.Models))
	for _, m := range resp.Models {
		names = append(names, m.Name)
	}
	return names, nil
}

// digestOf returns the digest of the model name, or "" if there is none.
func (c *Client) digestOf(ctx context.Context, name string) (string, error) {
	models, err := c.List(ctx)
	if err != nil {
		return "", err
	}
	want := fullName(name)
	for _, m := range models {
		if fullName(m.Name) == want {
			return m.Digest, nil
		}
	}
	return "", nil
}

// fullName normalizes a model name the way the server does, so that "x" and
// "x:latest" compare equal.
func fullName(name string) string {
	n := ollamamodel.ParseName(name)
	if !n.IsValid() {
		return name
	}
	return strings.ToLower(n.String())
}

// List returns the models the server has.
func (c *Client) List(ctx context.Context) ([]Model, error) {
	resp, err := c.api.List(ctx)
	if err != nil {
		return nil, c.wrap(ctx, "list", "", err)
	}
	models := make([]Model, 0, len(resp.Models))
	for _, m := range resp.Models {
		models = append(models, Model{
			Name:              m.Name,
			Digest:            m.Digest,
			Size:              m.Size,
			ModifiedAt:        m.ModifiedAt,
			Family:            m.Details.Family,
			ParameterSize:     m.Details.ParameterSize,
			QuantizationLevel: m.Details.QuantizationLevel,
		})
	}
	return models, nil
}

// ListPrefix returns the models whose name starts with prefix, e.g. the
// "fastslow-" models the project made.
func (c *Client) ListPrefix(ctx context.Context, prefix string) ([]Model, error) {
	models, err := c.List(ctx)
	if err != nil {
		return nil, err
	}
	out := models[:0]
	for _, m := range models {
		if strings.HasPrefix(m.Name, prefix) {
			out = append(out, m)
		}
	}
	return out, nil
}

// Delete unloads the model name and removes it. Blobs other models still
// use stay.
func (c *Client) Delete(ctx context.Context, name string) error {
	// Ollama keeps a deleted model's runner until its keep-alive expires;
	// unload first so the memory is free now. A failure here is not fatal:
	// the delete below reports what matters.
	_ = c.Unload(ctx, name)
	if err := c.api.Delete(ctx, &ollamaapi.DeleteRequest{Model: name}); err != nil {
		return c.wrap(ctx, "delete", name, err)
	}
	return nil
}

// show returns the server's description of a model.
func (c *Client) show(ctx context.Context, name string) (*ollamaapi.ShowResponse, error) {
	resp, err := c.api.Show(ctx, &ollamaapi.ShowRequest{Model: name})
	if err != nil {
		return nil, c.wrap(ctx, "show", name, err)
	}
	return resp, nil
}

// ResolveGGUF returns the path of the GGUF file holding the weights of the
// model name (the base weights, for a model with an adapter). It uses the
// FROM line of the model's Modelfile as reported by the server when that path
// exists on this machine, and otherwise reads the model's manifest in
// Options.ModelsDir.
func (c *Client) ResolveGGUF(ctx context.Context, name string) (string, error) {
	show, err := c.show(ctx, name)
	if errors.Is(err, ErrModelNotFound) {
		return "", fmt.Errorf("resolve GGUF: %w", err)
	}
	if err == nil {
		if p := modelfileFrom(show.Modelfile); p != "" && filepath.IsAbs(p) {
			if st, serr := os.Stat(p); serr == nil && st.Mode().IsRegular() {
				return p, nil
			}
		}
	}
	// The server may run elsewhere (or be down); its store may still be here.
	p, merr := manifestGGUF(c.opt.ModelsDir, name)
	if merr == nil {
		return p, nil
	}
	if err != nil {
		return "", fmt.Errorf("resolve GGUF of %q: %w", name, errors.Join(err, merr))
	}
	return "", fmt.Errorf("resolve GGUF of %q: the server's path is not on this machine and %w", name, merr)
}

// modelfileFrom returns the argument of the first FROM line of a Modelfile.
func modelfileFrom(modelfile string) string {
	sc := bufio.NewScanner(strings.NewReader(modelfile))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if len(line) > 5 && strings.EqualFold(line[:5], "FROM ") {
			return strings.TrimSpace(line[5:])
		}
	}
	return ""
}

// manifestGGUF finds the model layer of name in the manifest under the
// models directory (manifests/<host>/<namespace>/<model>/<tag>).
func manifestGGUF(modelsDir, name string) (string, error) {
	m, err := readManifest(modelsDir, name)
	if err != nil {
		return "", err
	}
	for _, l := range m.Layers {
		if l.MediaType != "application/vnd.ollama.image.model" {
			continue
		}
		hexDigest, ok := strings.CutPrefix(l.Digest, "sha256:")
		if !ok || len(hexDigest) != 64 {
			return "", fmt.Errorf("manifest %s: bad digest %q", m.path, l.Digest)
		}
		p := filepath.Join(modelsDir, "blobs", "sha256-"+hexDigest)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("manifest %s: %w", m.path, err)
		}
		return p, nil
	}
	return "", fmt.Errorf("manifest %s has no model layer", m.path)
}

// manifest is a model's manifest in the store: its config and layers.
type manifest struct {
	Config Blob   `json:"config"`
	Layers []Blob `json:"layers"`
	path   string
}

// readManifest reads the manifest of name under the models directory
// (manifests/<host>/<namespace>/<model>/<tag>).
func readManifest(modelsDir, name string) (*manifest, error) {
	if modelsDir == "" {
		return nil, errors.New("no models directory known (set OLLAMA_MODELS)")
	}
	n := ollamamodel.ParseName(name)
	if !n.IsFullyQualified() {
		return nil, fmt.Errorf("invalid model name %q", name)
	}
	mpath := filepath.Join(modelsDir, "manifests", n.Filepath())
	data, err := os.ReadFile(mpath)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("parse manifest %s: %w", mpath, err)
	}
	m.path = mpath
	return &m, nil
}
