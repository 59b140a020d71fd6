package fastslow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/fastslow/fastslow/adapters/ollama"
	embedded "github.com/fastslow/fastslow/models"
	"github.com/fastslow/fastslow/weights"
)

// An Option changes how Open makes a learner.
type Option func(*openSettings)

type openSettings struct {
	opts   Options
	model  string
	ollama bool
	host   string
	client *ollama.Client
}

// WithModel adapts nameOrPath (a GGUF file, or with WithOllama also an Ollama model name) instead of the
// embedded default model.
func WithModel(nameOrPath string) Option { return func(s *openSettings) { s.model = nameOrPath } }

// WithOllama serves through the Ollama server at host ("" means $OLLAMA_HOST, else ollama.DefaultHost) instead
// of the in-process engine. Open checks that the server answers.
func WithOllama(host string) Option {
	return func(s *openSettings) { s.ollama, s.host = true, host }
}

// WithOllamaClient is WithOllama with a client of your own (its options: threads, context window, timeouts).
func WithOllamaClient(c *ollama.Client) Option {
	return func(s *openSettings) { s.ollama, s.client = true, c }
}

// WithPolicy routes examples by p instead of PolicyFST.
func WithPolicy(p Policy) Option { return func(s *openSettings) { s.opts.Policy = p } }

// WithFlush says when waiting corrections start a weight round in the background (see FlushPolicy).
func WithFlush(f FlushPolicy) Option { return func(s *openSettings) { s.opts.Flush = f } }

// WithEvents sends progress, including the background rounds' results, to fn.
func WithEvents(fn func(Event)) Option { return func(s *openSettings) { s.opts.Events = fn } }

// WithOptions changes any of the learner's options; set sees DefaultOptions with the earlier options applied.
// Base and Server, if set, are used as they are.
func WithOptions(set func(*Options)) Option { return func(s *openSettings) { set(&s.opts) } }

// Open opens the learner kept in dir, creating it if needed, ready to answer: one call to a working learner.
// With no options it adapts the embedded default model (written once to dir/models) and serves it with the
// in-process engine; WithOllama serves through Ollama instead, checked here, so an unreachable server is an
// error now rather than at the first answer. Weight rounds run in the background (see Options.Flush); Close
// stops them.
func Open(ctx context.Context, dir string, opts ...Option) (*Learner, error) {
	s := openSettings{opts: DefaultOptions()}
	for _, o := range opts {
		o(&s)
	}
	if dir == "" {
		return nil, errors.New("fastslow: open: no state directory")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("fastslow: open: %w", err)
	}
	if s.opts.Base == nil || s.opts.Server == nil {
		if err := s.serve(ctx, dir); err != nil {
			return nil, fmt.Errorf("fastslow: open %s: %w", dir, err)
		}
	}
	return NewLearner(ctx, dir, s.opts)
}

// serve fills in the base model and the server.
func (s *openSettings) serve(ctx context.Context, dir string) error {
	if s.ollama && s.client == nil {
		host := s.host
		if host == "" {
			host = strings.TrimSpace(os.Getenv("OLLAMA_HOST"))
		}
		if host == "" {
			host = ollama.DefaultHost
		}
		var err error
		if s.client, err = ollama.New(host, ollama.Options{}); err != nil {
			return err
		}
	}
	if s.client != nil {
		if err := s.client.Ping(ctx); err != nil {
			return fmt.Errorf("the Ollama server at %s does not answer (without WithOllama the learner serves with the in-process engine): %w", s.client.Host(), err)
		}
	}
	path := s.model
	if path == "" {
		var err error
		if path, err = embeddedModel(dir); err != nil {
			return err
		}
	} else if !IsPath(path) && s.client == nil {
		return fmt.Errorf("model %q is not a file; an Ollama model name needs WithOllama", path)
	}
	ref, err := ResolveModel(ctx, s.client, path)
	if err != nil {
		return err
	}
	if s.opts.Base == nil {
		if s.opts.Base, err = weights.Load(ref.Path); err != nil {
			return fmt.Errorf("model %s: %w", path, err)
		}
	}
	if s.opts.Server == nil {
		if s.client != nil {
			srv := NewOllamaServer(s.client, ref.Path, "")
			srv.From = ref.Ollama
			s.opts.Server = srv
		} else {
			s.opts.Server = NewEngineServer(s.opts.Base)
		}
	}
	return nil
}

// embeddedModel writes the embedded default model into dir/models once, named after its content, and returns
// its path (Ollama needs a file to create the model from).
func embeddedModel(dir string) (string, error) {
	data, err := embedded.Default()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	path := filepath.Join(dir, "models", "default-"+hex.EncodeToString(sum[:6])+".gguf")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	if err := embedded.WriteDefault(path); err != nil {
		return "", err
	}
	return path, nil
}
