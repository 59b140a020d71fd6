package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights/gguf"
)

// TestLearnSaysWhatWasNotHeldOut reproduces the tour's case of issue 14: two examples, then one correction.
// Neither learn has examples held out from training to validate on or to measure forgetting on, and both say
// so — in the text and JSON output, and in the adapter history (adapters.json), which no longer records an
// unmeasured round as retention 1 → 1.
func TestLearnSaysWhatWasNotHeldOut(t *testing.T) {
	c := ollamatest.Client(t)
	dir := t.TempDir()
	base := filepath.Join(dir, "base.gguf")
	if _, _, err := tinymodel.Write(context.Background(), base, 31, 0.05, gguf.TypeF32); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	made := []string{fastslow.ModelPrefix + "base-" + hex.EncodeToString(sum[:])[:12]}
	t.Cleanup(func() {
		for _, name := range made {
			_ = c.Delete(context.Background(), name)
		}
	})
	data := filepath.Join(dir, "capitals.jsonl")
	writeJSONL(t, data, facts()[:2])
	feedback := filepath.Join(dir, "feedback.jsonl")
	if err := os.WriteFile(feedback, []byte(`{"input": "Q: What is the capital of Quenth?\nA:", "output": " Tovik", "score": 0, "feedback": "wrong city", "answer": "Ambrel"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "home")
	env := []string{"FASTSLOW_HOME=" + home, "OLLAMA_HOST=" + c.Host(), "FASTSLOW_MODEL=" + base}

	for i, file := range []string{data, feedback} {
		args := []string{"learn", "--task", "capitals", "--data", file, "--steps", "10"}
		stdout, stderr, code := runCLI(t, env, append(args, "--json")...)
		if code != 0 {
			t.Fatalf("learn %d exited %d: %s", i+1, code, stderr)
		}
		var s LearnSummary
		if err := json.Unmarshal([]byte(stdout), &s); err != nil {
			t.Fatalf("learn --json printed %q: %v", stdout, err)
		}
		if s.Model != "" {
			made = append(made, s.Model)
		}
		if s.HeldOut || s.NotHeldOut == "" {
			t.Errorf("learn %d: validation_held_out %v (%q), want false with the reason", i+1, s.HeldOut, s.NotHeldOut)
		}
		if s.Adapter != i+1 {
			t.Fatalf("learn %d made adapter version %d", i+1, s.Adapter)
		}
		if !strings.Contains(s.Unmeasured, "no held-out examples") {
			t.Errorf("learn %d: forgetting_not_measured %q", i+1, s.Unmeasured)
		}
	}
	// The text output says both.
	stdout, stderr, code := runCLI(t, env, "learn", "--task", "capitals", "--data", data, "--steps", "10")
	if code != 0 {
		t.Fatalf("learn exited %d: %s", code, stderr)
	}
	for _, w := range []string{"forgetting not measured: no held-out examples", "not held out: 2 examples are too few"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("learn's output lacks %q: %s", w, stdout)
		}
	}
	manifests, _ := filepath.Glob(filepath.Join(home, "learner-*", "adapters", "adapters.json"))
	if len(manifests) != 1 {
		t.Fatalf("adapter histories: %v", manifests)
	}
	raw, err = os.ReadFile(manifests[0])
	if err != nil {
		t.Fatal(err)
	}
	var hist struct{ Versions []fastslow.AdapterVersion }
	if err := json.Unmarshal(raw, &hist); err != nil {
		t.Fatal(err)
	}
	if len(hist.Versions) < 2 {
		t.Fatalf("adapter history has %d versions", len(hist.Versions))
	}
	for _, v := range hist.Versions {
		if v.Handle != "" {
			made = append(made, v.Handle)
		}
		if !strings.Contains(v.Unmeasured, "no held-out examples") || v.Before != 0 || v.After != 0 {
			t.Errorf("adapter version %d: retention %v → %v, unmeasured %q", v.Seq, v.Before, v.After, v.Unmeasured)
		}
	}
}
