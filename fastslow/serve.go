package fastslow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/tokenizer"
)

// ModelPrefix starts the name of every model fastslow creates in Ollama, so they can be listed and cleaned up.
const ModelPrefix = "fastslow-"

// Server runs the base model, alone or with one of its deployed adapters. Two implementations exist: Ollama
// (what users serve from) and the in-process engine (when no Ollama is reachable).
type Server interface {
	// Name says where answers come from, for reports and logs.
	Name() string
	// Deploy makes the adapter file servable under a version name and returns the handle to generate with.
	Deploy(ctx context.Context, version, adapterPath string) (handle string, err error)
	// Generate continues prompt greedily with the model behind handle ("" is the base) for at most maxTokens
	// tokens, stopping at end-of-sequence.
	Generate(ctx context.Context, handle, prompt string, maxTokens int) (string, error)
	// Remove forgets a deployed adapter.
	Remove(ctx context.Context, handle string) error
}

// StreamServer is a Server that can pass an answer on while it is generated (OllamaServer is one).
type StreamServer interface {
	Server
	// GenerateStream is Generate, passing each piece of text to onText (if not nil) as it is generated; an
	// error from onText ends the generation with that error.
	GenerateStream(ctx context.Context, handle, prompt string, maxTokens int, onText func(string) error) (string, error)
}

// EngineServer serves through the in-process engine: the same GGUF weights and adapter files Ollama would
// load, run by weights/llama. It is safe for concurrent use.
type EngineServer struct {
	Base *weights.Model

	mu       sync.RWMutex
	adapters map[string]*llama.Adapter
	merged   map[string]*weights.Model // handle → merged model (DeployMerged)
}

// NewEngineServer returns a server for base.
func NewEngineServer(base *weights.Model) *EngineServer {
	return &EngineServer{Base: base, adapters: map[string]*llama.Adapter{}}
}

// Name implements Server.
func (s *EngineServer) Name() string { return "in-process engine" }

// Deploy loads the adapter file, checked against the base, as Ollama would.
func (s *EngineServer) Deploy(_ context.Context, version, adapterPath string) (string, error) {
	a, err := weights.LoadAdapter(adapterPath, s.Base.Model)
	if err != nil {
		return "", fmt.Errorf("deploy %s: %w", version, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.adapters[version] = a
	return version, nil
}

// Generate implements Server.
func (s *EngineServer) Generate(ctx context.Context, handle, prompt string, maxTokens int) (string, error) {
	var a *llama.Adapter
	m := s.Base
	if handle != "" {
		s.mu.RLock()
		var ok bool
		a, ok = s.adapters[handle]
		if mm, merged := s.merged[handle]; merged {
			m, ok = mm, true
		}
		s.mu.RUnlock()
		if !ok {
			return "", fmt.Errorf("generate: no adapter deployed as %q", handle)
		}
	}
	tok := m.Tokenizer
	ids := tok.Encode(prompt, true)
	if room := m.Config.ContextLength - len(ids); maxTokens > room {
		maxTokens = room
	}
	if maxTokens <= 0 {
		return "", fmt.Errorf("generate: the prompt (%d tokens) fills the context (%d)", len(ids), m.Config.ContextLength)
	}
	out, err := m.Generate(ctx, ids, maxTokens, llama.Sampler{}, a)
	if err != nil {
		return "", err
	}
	return RunnerText(tok, out), nil
}

// RunnerText renders ids as Ollama's llama runner streams them (runner/llamarunner in v0.6.5), so the engine
// answers with the same text a server would: a piece loses its trailing NUL bytes (the runner's TokenToPiece
// reads a C string), a piece is held back while the text ends inside a multi-byte character, and each flush
// drops trailing bytes until the text is valid UTF-8. The parity tests compare Ollama's text with it.
func RunnerText(tok tokenizer.Tokenizer, ids []int32) string {
	var out, pending strings.Builder
	flush := func() {
		s := pending.String()
		pending.Reset()
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		out.WriteString(s)
	}
	for _, id := range ids {
		pending.WriteString(strings.TrimRight(tok.Decode([]int32{id}), "\x00"))
		if !IncompleteUTF8(pending.String()) {
			flush()
		}
	}
	flush()
	return out.String()
}

// IncompleteUTF8 reports whether s ends inside a multi-byte character (the runner's IncompleteUnicode).
func IncompleteUTF8(s string) bool {
	for i := 1; i < 5 && i <= len(s); i++ {
		c := s[len(s)-i]
		switch {
		case c&0xc0 == 0x80:
			continue // a continuation byte: look further back
		case c&0xe0 == 0xc0:
			return i < 2
		case c&0xf0 == 0xe0:
			return i < 3
		case c&0xf8 == 0xf0:
			return i < 4
		}
		return false
	}
	return false
}

// Remove implements Server.
func (s *EngineServer) Remove(_ context.Context, handle string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.adapters, handle)
	delete(s.merged, handle)
	return nil
}

// OllamaServer serves through an Ollama server: the base GGUF is created once as a model named after its
// content, and every adapter version becomes a model FROM that base with the adapter.
type OllamaServer struct {
	Client   *ollama.Client
	BasePath string
	// Prefix names the adapted models: Prefix + version (default ModelPrefix).
	Prefix string
	// From, if set, is the Ollama model whose weights are at BasePath (DeployBase): adapted models are made
	// FROM it, keeping its template, system prompt and parameters, instead of FROM a model made from the file.
	From string

	mu       sync.Mutex
	baseName string
	deployed map[string]string // handle → adapter file, to restore a model deleted behind our back
	merged   map[string]string // handle → merged GGUF (DeployMerged), likewise
}

// NewOllamaServer returns a server for the base GGUF at basePath.
func NewOllamaServer(c *ollama.Client, basePath, prefix string) *OllamaServer {
	if prefix == "" {
		prefix = ModelPrefix
	}
	return &OllamaServer{Client: c, BasePath: basePath, Prefix: prefix}
}

// Name implements Server.
func (s *OllamaServer) Name() string { return "ollama at " + s.Client.Host() }

// BaseModel creates the base model in Ollama if it is not there yet and returns its name.
func (s *OllamaServer) BaseModel(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.baseName != "" {
		return s.baseName, nil
	}
	name, err := DeployBase(ctx, s.Client, ModelRef{Path: s.BasePath, Ollama: s.From})
	if err != nil {
		return "", err
	}
	s.baseName = name
	return name, nil
}

// Deploy implements Server.
func (s *OllamaServer) Deploy(ctx context.Context, version, adapterPath string) (string, error) {
	name := s.Prefix + version
	if err := s.create(ctx, name, adapterPath); err != nil {
		return "", err
	}
	s.mu.Lock()
	if s.deployed == nil {
		s.deployed = map[string]string{}
	}
	s.deployed[name] = adapterPath
	s.mu.Unlock()
	return name, nil
}

// ModelDigest returns the digest of the model deployed as version, "" if the server has none: the slow
// channel compares it with its records so that a learner never replaces another learner's model.
func (s *OllamaServer) ModelDigest(ctx context.Context, version string) (string, error) {
	name := s.Prefix + version
	models, err := s.Client.ListPrefix(ctx, name)
	if err != nil {
		return "", err
	}
	for _, m := range models {
		if m.Name == name || m.Name == name+":latest" {
			return m.Digest, nil
		}
	}
	return "", nil
}

// create makes the adapted model; a base model deleted from the server meanwhile is created again, once.
func (s *OllamaServer) create(ctx context.Context, name, adapterPath string) error {
	return s.onBase(ctx, func(base string) error { return s.Client.CreateAdapted(ctx, name, base, adapterPath) })
}

// onBase runs create with the base model's name; when the server says a model is missing (the base, deleted
// behind our back), it creates the base again and retries once.
func (s *OllamaServer) onBase(ctx context.Context, create func(base string) error) error {
	base, err := s.BaseModel(ctx)
	if err != nil {
		return err
	}
	err = create(base)
	if !errors.Is(err, ollama.ErrModelNotFound) {
		return err
	}
	s.mu.Lock()
	s.baseName = ""
	s.mu.Unlock()
	if base, err = s.BaseModel(ctx); err != nil {
		return err
	}
	return create(base)
}

// Generate implements Server. The prompt is sent raw: our models have no template, and the prompt fastslow
// assembles is the whole input. A model of ours that was deleted from the server meanwhile (by a user's
// `ollama rm`, say) is created again from its files, once, and the request retried.
func (s *OllamaServer) Generate(ctx context.Context, handle, prompt string, maxTokens int) (string, error) {
	return s.GenerateStream(ctx, handle, prompt, maxTokens, nil)
}

// GenerateStream implements StreamServer: Generate, with each piece of text passed to onText (if not nil) as
// the server streams it.
func (s *OllamaServer) GenerateStream(ctx context.Context, handle, prompt string, maxTokens int, onText func(string) error) (string, error) {
	text, err := s.generate(ctx, handle, prompt, maxTokens, onText)
	if !errors.Is(err, ollama.ErrModelNotFound) {
		return text, err
	}
	s.mu.Lock()
	adapterPath, ours := s.deployed[handle]
	mergedPath, merged := s.merged[handle]
	s.baseName = "" // check the base again too
	s.mu.Unlock()
	if merged {
		if err := s.createMerged(ctx, handle, mergedPath); err != nil {
			return "", err
		}
		return s.generate(ctx, handle, prompt, maxTokens, onText)
	}
	if handle == "" || ours {
		if handle != "" {
			if err := s.create(ctx, handle, adapterPath); err != nil {
				return "", err
			}
		}
		return s.generate(ctx, handle, prompt, maxTokens, onText)
	}
	return "", err
}

func (s *OllamaServer) generate(ctx context.Context, handle, prompt string, maxTokens int, onText func(string) error) (string, error) {
	model := handle
	if model == "" {
		var err error
		if model, err = s.BaseModel(ctx); err != nil {
			return "", err
		}
	}
	g, err := s.Client.Generate(ctx, model, prompt, ollama.GenerateOptions{NumPredict: maxTokens, Raw: true, OnText: onText})
	if err != nil {
		return "", err
	}
	return g.Text, nil
}

// Remove implements Server.
func (s *OllamaServer) Remove(ctx context.Context, handle string) error {
	s.mu.Lock()
	delete(s.deployed, handle)
	delete(s.merged, handle)
	s.mu.Unlock()
	return s.Client.Delete(ctx, handle)
}

// EnsureBase creates the base GGUF at path as an Ollama model named after its content (so the same file is
// uploaded once), unless it exists, and returns the name.
func EnsureBase(ctx context.Context, c *ollama.Client, path string) (string, error) {
	sum, err := ollama.FileDigest(path)
	if err != nil {
		return "", err
	}
	name := ModelPrefix + "base-" + strings.TrimPrefix(sum, "sha256:")[:12]
	models, err := c.ListPrefix(ctx, name)
	if err != nil {
		return "", err
	}
	for _, m := range models {
		if strings.TrimSuffix(m.Name, ":latest") == name {
			return name, nil
		}
	}
	if err := c.CreateFromGGUF(ctx, name, path, ollama.CreateOptions{}); err != nil {
		return "", err
	}
	return name, nil
}
