package fastslow

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
)

// quantBase is a tiny Q8_0 base, so a merged deploy re-encodes what it changes.
func quantBase(t *testing.T) *weights.Model {
	m, _ := tinyBaseOf(t, gguf.TypeQ8_0)
	return m
}

// TestSlowChannelMerged runs the slow channel in merged mode on the in-process engine: every version is a
// merged model, the forgetting budget scores the merged weights (what is served), only the newest Keep
// merged versions (and the served one) stay deployed and on disk, and rollback to a pruned version merges it
// again, byte for byte the same, and serves it; a reopened channel serves its merged version again.
func TestSlowChannelMerged(t *testing.T) {
	ctx := context.Background()
	m := quantBase(t)
	dir := t.TempDir()
	srv := NewEngineServer(m)
	s := openSlow(t, m, dir, "merged", srv)
	if err := s.SetDeploy(DeployOptions{Mode: DeployMerged, Keep: 2}); err != nil {
		t.Fatal(err)
	}
	// The retention check sees what is served: the base, then merged models alone.
	var scored []*weights.Model
	retention := func(ctx context.Context, sm *weights.Model, a *llama.Adapter) (float64, error) {
		if a != nil {
			return 0, errors.New("a merged channel scored an adapter")
		}
		scored = append(scored, sm)
		return accuracy(m, capitals)(ctx, sm, nil)
	}
	opt := slowOpts(func(o *SlowOptions) { o.Steps = 60; o.Chunk = 30; o.LR = 1e-2; o.Budget = 1; o.Seed = 1 })
	sums := map[int]string{}
	var handles []string
	for round := 1; round <= 4; round++ {
		r, err := s.Train(ctx, "capitals", capitals, retention, opt, nil)
		if err != nil {
			t.Fatal(err)
		}
		v := r.Version
		if !r.Promoted || v.Seq != round || v.Mode != DeployMerged || r.Mode != DeployMerged || v.Merged == "" || v.MergedBytes == 0 {
			t.Fatalf("round %d: %+v", round, r)
		}
		sums[v.Seq] = ollamatest.FileDigest(t, filepath.Join(dir, v.Merged))
		handles = append(handles, v.Handle)
		// Served: the merged model as the channel scores it.
		sm, sa := s.servedScoring()
		if sa != nil || sm == m {
			t.Fatalf("round %d: the channel scores the base with an adapter, not the merged model", round)
		}
		want, err := sm.Generate(ctx, m.Tokenizer.Encode(capitals[0].Prompt, true), 8, llama.Sampler{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := srv.Generate(ctx, s.Handle(), capitals[0].Prompt, 8); err != nil || got != RunnerText(m.Tokenizer, want) {
			t.Fatalf("round %d: served %q, %v; the scored merged model answers %q", round, got, err, RunnerText(m.Tokenizer, want))
		}
	}
	if len(scored) < 4 || scored[0] != m {
		t.Fatalf("retention scored %d models, the first the base: %v", len(scored), len(scored) > 0 && scored[0] == m)
	}
	if acc, _ := accuracy(m, capitals)(ctx, s.served.Load(), nil); acc != 1 {
		t.Errorf("the served merged model answers %.2f of the pairs, want 1", acc)
	}

	// Keep 2: versions 1 and 2 are gone from the server and from disk; their adapters stay.
	for _, v := range s.Versions() {
		kept := v.Seq >= 3
		if (v.Merged != "") != kept {
			t.Errorf("version %d: merged file %q, want kept %v", v.Seq, v.Merged, kept)
		}
		if _, err := os.Stat(filepath.Join(dir, v.Path)); err != nil {
			t.Errorf("version %d: adapter: %v", v.Seq, err)
		}
		_, err := srv.Generate(ctx, handles[v.Seq-1], capitals[0].Prompt, 4)
		if (err == nil) != kept {
			t.Errorf("version %d: served after pruning = %v, want %v", v.Seq, err == nil, kept)
		}
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "merged-*.gguf")); len(files) != 2 {
		t.Errorf("merged files on disk: %v, want 2", files)
	}
	adapters, merged := s.DiskUse()
	if adapters <= 0 || merged <= 0 {
		t.Errorf("disk use: adapters %d, merged %d", adapters, merged)
	}

	// Rollback to pruned version 1: merged again, the same bytes, served.
	if err := s.Rollback(ctx, 1); err != nil {
		t.Fatal(err)
	}
	v1, _ := s.Current()
	if v1.Seq != 1 || v1.Merged == "" || ollamatest.FileDigest(t, filepath.Join(dir, v1.Merged)) != sums[1] {
		t.Fatalf("rollback to 1: %+v, merged again with other bytes", v1)
	}
	if _, err := srv.Generate(ctx, s.Handle(), capitals[0].Prompt, 4); err != nil {
		t.Fatalf("version 1 after rollback: %v", err)
	}

	// Reopen: the served merged version is checked against its adapter and deployed again.
	srv2 := NewEngineServer(m)
	again, err := OpenSlowChannel(ctx, m, dir, "merged", srv2)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := srv2.Generate(ctx, again.Handle(), capitals[0].Prompt, 8); err != nil || got == "" {
		t.Fatalf("reopened: %q, %v", got, err)
	}
	// A damaged merged file is refused on reopening rather than served.
	if err := os.WriteFile(filepath.Join(dir, v1.Merged), []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenSlowChannel(ctx, m, dir, "merged", NewEngineServer(m)); err == nil {
		t.Error("a damaged merged file was deployed")
	}
	if err := again.Rollback(ctx, 0); err != nil || again.Handle() != "" {
		t.Fatalf("rollback to the base: %v", err)
	}
}

// TestSlowChannelAutoOnEngine: the in-process engine applies adapters, so auto deploys adapters there.
func TestSlowChannelAutoOnEngine(t *testing.T) {
	ctx := context.Background()
	m := quantBase(t)
	s, err := OpenSlowChannel(ctx, m, t.TempDir(), "auto", NewEngineServer(m))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetDeploy(DefaultDeployOptions()); err != nil {
		t.Fatal(err)
	}
	r, err := s.Train(ctx, "a", capitals[:2], nil, slowOpts(func(o *SlowOptions) { o.Steps = 20; o.Budget = -1 }), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Version.Mode != DeployAdapter || r.Version.Merged != "" {
		t.Errorf("auto on the engine made %+v, want an adapter version", r.Version)
	}
	for _, bad := range []DeployOptions{{Mode: "lora", Keep: 1}, {Mode: DeployMerged, Keep: 0}, {Mode: DeployMerged, MergedType: "q2", Keep: 1}} {
		if err := s.SetDeploy(bad); err == nil {
			t.Errorf("SetDeploy(%+v) accepted", bad)
		}
	}
}

// TestSlowChannelMergedOllama: merged versions on a real Ollama. With Keep 1 the older version's model
// leaves the server and its file the disk; Ollama answers as the merged model the channel scored; rollback to
// the pruned version creates it again.
func TestSlowChannelMergedOllama(t *testing.T) {
	c := ollamatest.Client(t)
	ctx := context.Background()
	m, path := tinyBase(t)
	dir := t.TempDir()
	srv := NewOllamaServer(c, path, ollamatest.UniqueName(t, "fastslow-slowmerged")+"-")
	s := openSlow(t, m, dir, "ch", srv)
	if err := s.SetDeploy(DeployOptions{Mode: DeployMerged, Keep: 1}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, v := range s.Versions() {
			_ = c.Delete(context.Background(), srv.Prefix+s.versionName(v.Seq))
		}
		if b, err := srv.BaseModel(context.Background()); err == nil {
			_ = c.Delete(context.Background(), b)
		}
	})
	opt := slowOpts(func(o *SlowOptions) { o.Steps = 120; o.LR = 1e-2; o.Budget = -1; o.Seed = 1 })
	served := func() string {
		t.Helper()
		sm, _ := s.servedScoring()
		ids, err := sm.Generate(ctx, m.Tokenizer.Encode(capitals[0].Prompt, true), 8, llama.Sampler{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := RunnerText(m.Tokenizer, ids)
		got, err := srv.Generate(ctx, s.Handle(), capitals[0].Prompt, 8)
		if err != nil || got != want {
			t.Fatalf("ollama %q, %v; the merged model the channel scored answers %q", got, err, want)
		}
		return got
	}
	if _, err := s.Train(ctx, "a", capitals[:2], nil, opt, nil); err != nil {
		t.Fatal(err)
	}
	first := served()
	opt.Seed = 2
	if _, err := s.Train(ctx, "b", []weights.Pair{{Prompt: capitals[0].Prompt, Completion: " Ambrel"}}, nil, opt, nil); err != nil {
		t.Fatal(err)
	}
	if second := served(); second == first {
		t.Fatalf("version 2 answers %q like version 1", second)
	}
	v1Name := srv.Prefix + s.versionName(1)
	if ms, err := c.ListPrefix(ctx, v1Name); err != nil || len(ms) != 0 {
		t.Errorf("version 1 is still on the server after pruning: %+v, %v", ms, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "merged-0001.gguf")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("version 1's merged file is still on disk: %v", err)
	}
	if err := s.Rollback(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if again := served(); again != first {
		t.Errorf("version 1 after rollback answers %q, before %q", again, first)
	}
}
