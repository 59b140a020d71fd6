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
// The first learn has no examples held out from training to validate on or to measure forgetting on, and says
// so — in the text and JSON output and in the adapter history (adapters.json), which no longer records an
// unmeasured round as retention 1 → 1. The later runs measure forgetting on what the earlier ones taught (the
// store's demonstrations whose inputs they do not train on), so "version 2 lost a fact version 1 answered" is
// caught by the budget.
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
	data := factsFile(t, dir, "capitals.jsonl", 2)
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
		switch {
		case i == 0 && (s.Adapter != 1 || !strings.Contains(s.Unmeasured, "no held-out examples")):
			t.Errorf("learn 1: adapter version %d, forgetting_not_measured %q", s.Adapter, s.Unmeasured)
		case i == 1 && s.Unmeasured != "":
			t.Errorf("learn 2: forgetting not measured (%q), though learn 1's examples are held out from it", s.Unmeasured)
		}
	}
	// The text output says that validation was not held out.
	stdout, stderr, code := runCLI(t, env, "learn", "--task", "capitals", "--data", data, "--steps", "10")
	if code != 0 {
		t.Fatalf("learn exited %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "not held out: 2 examples are too few") {
		t.Errorf("learn's output: %s", stdout)
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
	if len(hist.Versions) == 0 {
		t.Fatal("no adapter history")
	}
	for _, v := range hist.Versions {
		if v.Handle != "" {
			made = append(made, v.Handle)
		}
		if v.Seq == 1 && (!strings.Contains(v.Unmeasured, "no held-out examples") || v.Before != 0 || v.After != 0) {
			t.Errorf("adapter version 1: retention %v → %v, unmeasured %q", v.Before, v.After, v.Unmeasured)
		}
	}
}
