package fastslow

import (
	"context"
	"fmt"

	"github.com/fastslow/fastslow/weights"
)

// MergedServer is a Server that can also serve merged models: the base with an adapter folded into its
// weights (weights.Merge), for runtimes that do not apply adapters. Both servers of this package are
// MergedServers; the slow channel deploys merged versions only to one.
type MergedServer interface {
	Server
	// DeployMerged makes the merged model m (its GGUF at m.Path) servable under a version name and returns
	// the handle to generate with.
	DeployMerged(ctx context.Context, version string, m *weights.Merged) (handle string, err error)
	// AppliesAdapters reports whether an adapter deployed with Deploy takes effect on base, and why: what
	// DeployAuto decides by.
	AppliesAdapters(ctx context.Context, base *weights.Model) (bool, string)
}

// DeployMerged implements MergedServer: the merged model is served as it is (it is the model the file read
// back holds; weights.Merge checked that).
func (s *EngineServer) DeployMerged(_ context.Context, version string, m *weights.Merged) (string, error) {
	if m == nil || m.Model == nil {
		return "", fmt.Errorf("deploy %s: no merged model", version)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.merged == nil {
		s.merged = map[string]*weights.Model{}
	}
	delete(s.adapters, version)
	s.merged[version] = m.Model
	return version, nil
}

// AppliesAdapters implements MergedServer: the engine applies adapters to every architecture it runs.
func (s *EngineServer) AppliesAdapters(context.Context, *weights.Model) (bool, string) {
	return true, "the in-process engine applies LoRA adapters"
}

// DeployMerged implements MergedServer: the merged GGUF becomes a model with the base model's template,
// system prompt and parameters (ollama.Client.CreateMerged).
func (s *OllamaServer) DeployMerged(ctx context.Context, version string, m *weights.Merged) (string, error) {
	if m == nil || m.Path == "" {
		return "", fmt.Errorf("deploy %s: no merged GGUF", version)
	}
	name := s.Prefix + version
	if err := s.createMerged(ctx, name, m.Path); err != nil {
		return "", err
	}
	s.mu.Lock()
	if s.merged == nil {
		s.merged = map[string]string{}
	}
	delete(s.deployed, name)
	s.merged[name] = m.Path
	s.mu.Unlock()
	return name, nil
}

// createMerged makes the merged model; a base model deleted from the server meanwhile is created again,
// once.
func (s *OllamaServer) createMerged(ctx context.Context, name, path string) error {
	return s.onBase(ctx, func(base string) error { return s.Client.CreateMerged(ctx, name, base, path) })
}

// AppliesAdapters implements MergedServer by the architecture: see OllamaAppliesAdapters.
func (s *OllamaServer) AppliesAdapters(_ context.Context, base *weights.Model) (bool, string) {
	return OllamaAppliesAdapters(base.Config.Architecture())
}
