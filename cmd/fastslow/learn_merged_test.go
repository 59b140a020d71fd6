package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/weights/gguf"
)

// TestLearnMergedKeepRollback: `learn` with deploy merged and keep 1 serves every version as a merged model;
// the older one leaves Ollama and the disk when the newer one is promoted, and `rollback` brings it back.
func TestLearnMergedKeepRollback(t *testing.T) {
	c := ollamatest.Client(t)
	dir := t.TempDir()
	base := tinyBase(t, dir, 31, gguf.TypeQ8_0)
	data := factsFile(t, dir, "capitals.jsonl", 10)
	home := filepath.Join(dir, "home")
	env := []string{"FASTSLOW_HOME=" + home, "OLLAMA_HOST=" + c.Host(), "FASTSLOW_MODEL=" + base,
		"FASTSLOW_DEPLOY=merged", "FASTSLOW_KEEP=1"}
	var sums []LearnSummary
	for i := 0; i < 2; i++ {
		var s LearnSummary
		runJSON(t, env, &s, "learn", "--task", "capitals", "--data", data, "--steps", "40", "--lr", "1e-2", "--policy", "weights", "--json")
		if s.Deploy != "merged" || s.Model == "" {
			t.Fatalf("learn summary %+v, want a merged deploy", s)
		}
		ollamatest.DeleteOnCleanup(t, s.Model)
		sums = append(sums, s)
	}
	listed := func() map[string]string {
		t.Helper()
		var out struct{ Models []modelInfo }
		runJSON(t, env, &out, "models", "--json")
		modes := map[string]string{}
		for _, m := range out.Models {
			modes[strings.TrimSuffix(m.Name, ":latest")] = m.Mode
		}
		return modes
	}
	merged := func() []string {
		files, _ := filepath.Glob(filepath.Join(home, "learner-*", "adapters", "merged-*.gguf"))
		return files
	}
	modes := listed()
	if _, ok := modes[sums[0].Model]; ok || modes[sums[1].Model] != "merged" {
		t.Errorf("after two merged versions with keep 1: %s listed %v, %s as %q", sums[0].Model, ok, sums[1].Model, modes[sums[1].Model])
	}
	if files := merged(); len(files) != 1 {
		t.Errorf("merged files on disk with keep 1: %v", files)
	}

	var rb struct {
		From, To int
		Model    string
	}
	runJSON(t, env, &rb, "rollback", "--json")
	if rb.To != sums[0].Adapter || rb.Model != sums[0].Model {
		t.Fatalf("rollback %+v, want to %d (%s)", rb, sums[0].Adapter, sums[0].Model)
	}
	if modes := listed(); modes[sums[0].Model] != "merged" {
		t.Errorf("after rollback %s is listed as %q, want merged", sums[0].Model, modes[sums[0].Model])
	}
	if files := merged(); len(files) != 2 {
		t.Errorf("merged files on disk after rollback: %v", files)
	}
	var size int64
	for _, f := range merged() {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		size += st.Size()
	}
	var use struct {
		HomeMerged   int64 `json:"home_merged_bytes"`
		HomeAdapters int64 `json:"home_adapter_bytes"`
	}
	runJSON(t, env, &use, "models", "--json")
	if use.HomeMerged != size || use.HomeAdapters <= 0 {
		t.Errorf("models --json disk use %+v, want %d bytes of merged models and some of adapters", use, size)
	}
	if _, err := c.Generate(context.Background(), rb.Model, "Q: What is the capital of Zorblia?\nA:", ollama.GenerateOptions{NumPredict: 4, Raw: true}); err != nil {
		t.Errorf("the rolled-back merged model does not answer: %v", err)
	}
}
