package fastslow

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/llama"
)

// How the slow channel serves its versions in each deploy mode. Every version keeps its adapter file, the
// record of what was learned; a merged version also has a merged GGUF (the base with the adapter folded in),
// served in its place, and the forgetting budget is measured on those merged weights, as served. Merged
// files are whole copies of the model: only the newest DeployOptions.Keep merged versions (and the served
// one) stay deployed and on disk; an older one rolled back to is merged again from its adapter (the same
// bytes: merging is deterministic).

// SetDeploy sets how the versions made from now on are served (versions made before keep their mode).
func (s *SlowChannel) SetDeploy(opt DeployOptions) error {
	if _, err := ParseDeployMode(string(opt.Mode)); err != nil {
		return fmt.Errorf("slow channel: %w", err)
	}
	if opt.Mode == "" {
		opt.Mode = DeployAuto
	}
	mt, err := weights.ParseMergedType(string(opt.MergedType))
	if err != nil {
		return fmt.Errorf("slow channel: %w", err)
	}
	opt.MergedType = mt
	if opt.Keep < 1 {
		return fmt.Errorf("slow channel: keep %d merged versions: at least the served one is kept", opt.Keep)
	}
	if opt.Mode == DeployMerged {
		if _, ok := s.server.(MergedServer); !ok {
			return fmt.Errorf("slow channel: %s does not serve merged models", s.server.Name())
		}
		if s.base.Path == "" {
			return errors.New("slow channel: merged deploys need a base loaded from a GGUF file")
		}
	}
	s.deploy.Store(&opt)
	return nil
}

// roundMode decides how the next version is deployed, and why.
func (s *SlowChannel) roundMode(ctx context.Context) (DeployMode, string) {
	opt := s.deployOptions()
	ms, ok := s.server.(MergedServer)
	switch {
	case opt.Mode == DeployAdapter:
		return DeployAdapter, "deploy mode adapter"
	case opt.Mode == DeployMerged:
		return DeployMerged, "deploy mode merged"
	case !ok:
		return DeployAdapter, s.server.Name() + " serves adapters only"
	case s.base.Path == "":
		return DeployAdapter, "the base has no GGUF file to merge into"
	}
	if applies, why := ms.AppliesAdapters(ctx, s.base); !applies {
		return DeployMerged, why
	}
	return DeployAdapter, ""
}

func (s *SlowChannel) deployOptions() DeployOptions {
	if d := s.deploy.Load(); d != nil {
		return *d
	}
	return DefaultDeployOptions()
}

// scoring returns the model and adapter that serve adapter a in mode: the base with a, or the merge of a
// (computed in memory) alone. The forgetting budget is measured on them.
func (s *SlowChannel) scoring(ctx context.Context, a *llama.Adapter, mode DeployMode) (*weights.Model, *llama.Adapter, error) {
	if a == nil || mode != DeployMerged {
		return s.base, a, nil
	}
	m, err := weights.MergeInMemory(ctx, s.base, "", a, weights.MergeOptions{Type: s.deployOptions().MergedType})
	if err != nil {
		return nil, nil, err
	}
	return m.Model, nil, nil
}

// servedScoring returns what serves the current version: see scoring.
func (s *SlowChannel) servedScoring() (*weights.Model, *llama.Adapter) {
	if m := s.served.Load(); m != nil {
		return m, nil
	}
	return s.base, s.Adapter()
}

// deployNew deploys the new version v, whose adapter a is saved at v.Path, in mode, and records how in v. In
// auto mode a server that refuses the adapter gets a merged model instead. It returns the handle and, for a
// merged version, the merged model.
func (s *SlowChannel) deployNew(ctx context.Context, v *AdapterVersion, a *llama.Adapter, mode DeployMode) (string, *weights.Model, error) {
	name := s.versionName(v.Seq)
	if mode != DeployMerged {
		h, err := s.server.Deploy(ctx, name, filepath.Join(s.dir, v.Path))
		var se *ollama.ServerError
		_, canMerge := s.server.(MergedServer)
		if err == nil || s.deployOptions().Mode != DeployAuto || !canMerge || s.base.Path == "" || !errors.As(err, &se) {
			v.Mode = DeployAdapter
			return h, nil, err
		}
		v.Note = fmt.Sprintf("merged: the server refused the adapter model (%v)", se)
	}
	v.Mode, v.MergedType = DeployMerged, s.deployOptions().MergedType
	return s.deployMerged(ctx, v, a, false)
}

// deployMerged writes (or, when verify is set and the file is there, checks) v's merged GGUF and deploys it.
func (s *SlowChannel) deployMerged(ctx context.Context, v *AdapterVersion, a *llama.Adapter, verify bool) (string, *weights.Model, error) {
	ms, ok := s.server.(MergedServer)
	if !ok {
		return "", nil, fmt.Errorf("%s does not serve merged models", s.server.Name())
	}
	if v.Merged == "" {
		v.Merged = fmt.Sprintf("merged-%04d.gguf", v.Seq)
	}
	path := filepath.Join(s.dir, v.Merged)
	opt := weights.MergeOptions{Type: v.MergedType}
	var m *weights.Merged
	var err error
	if _, serr := os.Stat(path); verify && serr == nil {
		m, err = weights.VerifyMerged(ctx, s.base, "", a, path, opt)
	} else {
		m, err = weights.Merge(ctx, s.base, "", a, path, opt)
	}
	if err != nil {
		return "", nil, err
	}
	v.MergedBytes = m.Size
	h, err := ms.DeployMerged(ctx, s.versionName(v.Seq), m)
	if err != nil {
		return "", nil, err
	}
	return h, m.Model, nil
}

// redeployVersion serves the existing version v (its adapter a) again as it was made: its adapter, or its
// merged model, checked against the adapter or merged again when it was pruned.
func (s *SlowChannel) redeployVersion(ctx context.Context, v *AdapterVersion, a *llama.Adapter) (string, *weights.Model, error) {
	if v.Mode != DeployMerged {
		h, err := s.server.Deploy(ctx, s.versionName(v.Seq), filepath.Join(s.dir, v.Path))
		return h, nil, err
	}
	return s.deployMerged(ctx, v, a, true)
}

// prune removes the merged versions of st beyond the newest keep, except the served one: their models from
// the server and their merged files from disk. Their adapters stay. A failure to remove is reported after
// the others are tried; st records what was removed.
func (s *SlowChannel) prune(ctx context.Context, st *slowState) error {
	keep := s.deployOptions().Keep
	var errs []error
	kept := 0
	for i := len(st.Versions) - 1; i >= 0; i-- {
		v := &st.Versions[i]
		if v.Mode != DeployMerged || v.Merged == "" {
			continue
		}
		if kept < keep || v.Seq == st.Current {
			kept++
			continue
		}
		if err := s.server.Remove(ctx, v.Handle); err != nil && !errors.Is(err, ollama.ErrModelNotFound) {
			errs = append(errs, fmt.Errorf("remove version %d: %w", v.Seq, err))
			continue
		}
		if err := os.Remove(filepath.Join(s.dir, v.Merged)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove version %d: %w", v.Seq, err))
			continue
		}
		v.Merged, v.MergedBytes, v.Handle = "", 0, ""
	}
	return errors.Join(errs...)
}

// DiskUse returns the bytes the channel's files take: adapters (with their optimizer states) and merged
// models.
func (s *SlowChannel) DiskUse() (adapters, merged int64) {
	for _, v := range s.Versions() {
		if st, err := os.Stat(filepath.Join(s.dir, v.Path)); err == nil {
			adapters += st.Size()
		}
		if st, err := os.Stat(s.momentsPath(v)); err == nil {
			adapters += st.Size()
		}
		if v.Merged != "" {
			if st, err := os.Stat(filepath.Join(s.dir, v.Merged)); err == nil {
				merged += st.Size()
			}
		}
	}
	return adapters, merged
}
