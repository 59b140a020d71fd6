package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/weights/gguf"
)

// TestLearnModelsRollbackExport drives the learner's commands as a user would, against the real Ollama:
// learn twice (two adapter versions), list the models, roll back, export the prompts, all with --json.
func TestLearnModelsRollbackExport(t *testing.T) {
	c := ollamatest.Client(t)
	dir := t.TempDir()
	base := tinyBase(t, dir, 31, gguf.TypeF32)
	data := factsFile(t, dir, "capitals.jsonl", 10)
	home := filepath.Join(dir, "home")
	env := []string{"FASTSLOW_HOME=" + home, "OLLAMA_HOST=" + c.Host(), "FASTSLOW_MODEL=" + base}
	raw, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	ollamatest.DeleteOnCleanup(t, fastslow.ModelPrefix+"base-"+hex.EncodeToString(sum[:])[:12])

	var sums []LearnSummary
	for i := 0; i < 2; i++ {
		var s LearnSummary
		runJSON(t, env, &s, "learn", "--task", "capitals", "--data", data, "--steps", "40", "--lr", "1e-2", "--policy", "fst", "--json")
		if s.Task != "capitals" || s.Policy != "fst" || s.Examples != 10 || s.PromptVersion == 0 {
			t.Fatalf("learn summary %+v", s)
		}
		if s.Model != "" {
			ollamatest.DeleteOnCleanup(t, s.Model)
		}
		sums = append(sums, s)
	}
	if sums[1].Adapter != sums[0].Adapter+1 || sums[1].WeightSteps == 0 {
		t.Fatalf("two learn rounds made adapter versions %d and %d (%d steps)", sums[0].Adapter, sums[1].Adapter, sums[1].WeightSteps)
	}

	stdout, stderr, code := runCLI(t, env, "models", "--json")
	if code != 0 {
		t.Fatalf("models exited %d: %s", code, stderr)
	}
	var listed struct {
		Models []struct{ Name string }
	}
	if err := json.Unmarshal([]byte(stdout), &listed); err != nil {
		t.Fatalf("models --json printed %q: %v", stdout, err)
	}
	for _, want := range []string{sums[0].Model, sums[1].Model} {
		found := false
		for _, m := range listed.Models {
			found = found || strings.TrimSuffix(m.Name, ":latest") == want
		}
		if !found {
			t.Fatalf("models does not list %s: %s", want, stdout)
		}
	}

	var rb struct {
		From, To int
		Model    string
	}
	runJSON(t, env, &rb, "rollback", "--json")
	if rb.From != sums[1].Adapter || rb.To != sums[0].Adapter || rb.Model != sums[0].Model {
		t.Fatalf("rollback %+v, want from %d to %d (%s)", rb, sums[1].Adapter, sums[0].Adapter, sums[0].Model)
	}

	export := filepath.Join(dir, "prompts.json")
	if _, stderr, code = runCLI(t, env, "prompts", "export", "-o", export); code != 0 {
		t.Fatalf("prompts export exited %d: %s", code, stderr)
	}
	raw, err = os.ReadFile(export)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("export is not JSON: %v", err)
	}
	if !strings.Contains(string(raw), "capitals") || !strings.Contains(string(raw), "Quessa") {
		t.Fatalf("export lacks the task or its facts: %.300s", raw)
	}
}
