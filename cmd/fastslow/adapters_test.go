package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/peft"
)

// TestAdaptersImportExport drives the adapter commands as a user would, against the real Ollama: an adapter
// trained by 'fastslow train' is exported as PEFT files, imported into the learner through the budget and the
// gate (deployed, served, versioned), exported again from the learner byte for byte the same; a truncated
// adapter is refused with nothing deployed; 'jobs export' writes a job PEFT and TRL can read.
func TestAdaptersImportExport(t *testing.T) {
	c := ollamatest.Client(t)
	dir := t.TempDir()
	base := tinyBase(t, dir, 31, gguf.TypeF32)
	data, keep := filepath.Join(dir, "capitals.jsonl"), filepath.Join(dir, "keep.jsonl")
	writeJSONL(t, data, facts()[:6])
	writeJSONL(t, keep, facts()[20:])
	home := filepath.Join(dir, "home")
	env := []string{"FASTSLOW_HOME=" + home, "OLLAMA_HOST=" + c.Host(), "FASTSLOW_MODEL=" + base}
	run := func(want int, args ...string) string {
		t.Helper()
		stdout, stderr, code := runCLI(t, env, args...)
		if code != want {
			t.Fatalf("fastslow %s exited %d, want %d: %s", strings.Join(args, " "), code, want, stderr)
		}
		return stdout + stderr
	}
	trained := filepath.Join(dir, "trained.gguf")
	run(0, "train", "--data", data, "--out", trained, "--steps", "80", "--lr", "1e-2", "--rank", "4", "--quiet")
	exported := filepath.Join(dir, "peft")
	run(0, "adapters", "export", "--adapter", trained, "--out", exported, "--hf-base", "tiny/base")

	// A truncated safetensors file: one clear error, exit 1, nothing deployed.
	broken := filepath.Join(dir, "broken")
	if err := os.MkdirAll(broken, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{peft.ConfigFile, peft.WeightsFile} {
		b, err := os.ReadFile(filepath.Join(exported, name))
		if err != nil {
			t.Fatal(err)
		}
		if name == peft.WeightsFile {
			b = b[:len(b)/2]
		}
		if err := os.WriteFile(filepath.Join(broken, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	msg := run(1, "adapters", "import", broken, "--task", "capitals")
	if !strings.Contains(msg, "not a whole, valid safetensors file") || !strings.Contains(msg, "nothing deployed") {
		t.Fatalf("broken import said %q", msg)
	}
	out := run(1, "adapters", "export", "--out", filepath.Join(dir, "none"))
	if !strings.Contains(out, "serves no adapter") {
		t.Fatalf("export with no version said %q", out)
	}

	var imp AdapterImport
	runJSON(t, env, &imp, "adapters", "import", exported, "--task", "capitals", "--val", data, "--retention", keep, "--json")
	if !imp.Promoted || imp.Version != 1 || imp.Format != "peft" || imp.Model == "" {
		t.Fatalf("import: %+v", imp)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), imp.Model) })
	if acc := ollamaAccuracy(t, c, imp.Model, facts()[:6]); acc < 0.5 {
		t.Errorf("the imported adapter, served by Ollama, answers %.2f of its facts", acc)
	}
	back := filepath.Join(dir, "back")
	run(0, "adapters", "export", "--out", back, "--hf-base", "tiny/base")
	for _, name := range []string{peft.ConfigFile, peft.WeightsFile} {
		x, _ := os.ReadFile(filepath.Join(exported, name))
		y, _ := os.ReadFile(filepath.Join(back, name))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("%s: export → import → export changed the file (%d → %d bytes)", name, len(x), len(y))
		}
	}

	job := filepath.Join(dir, "job")
	run(0, "jobs", "export", "--task", "capitals", "--data", data, "--retention", keep, "--out", job, "--format", "messages", "--rank", "4")
	var j Job
	readJSON(t, filepath.Join(job, "job.json"), &j)
	if j.Task != "capitals" || j.Base.Architecture != "llama" || !strings.Contains(j.Import, "adapters import") {
		t.Fatalf("job.json: %+v", j)
	}
	var lc map[string]any
	readJSON(t, filepath.Join(job, "lora_config.json"), &lc)
	lc["peft_type"] = "LORA"
	b, _ := json.Marshal(lc)
	if cfg, err := peft.ParseConfig(b); err != nil || cfg.R != 4 || len(cfg.TargetModules.List) == 0 {
		t.Fatalf("lora_config.json %s: %+v %v", b, cfg, err)
	}
	rows := 0
	for _, name := range []string{"train.jsonl", "val.jsonl"} {
		f, err := os.Open(filepath.Join(job, name))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var row struct {
				Messages []struct{ Role, Content string }
			}
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil || len(row.Messages) != 2 ||
				row.Messages[0].Role != "user" || row.Messages[1].Role != "assistant" || row.Messages[1].Content == "" {
				t.Fatalf("%s: row %s: %v", name, sc.Text(), err)
			}
			rows++
		}
		f.Close()
	}
	if rows != 6 {
		t.Errorf("%d rows in train.jsonl and val.jsonl, want 6", rows)
	}
	if _, err := os.Stat(filepath.Join(job, "retention.jsonl")); err != nil {
		t.Error(err)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
