package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/prompts"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
)

// TestDeployRefusesTrailingBytesBeforeUpload reproduces issue 14 item 11 through the command: an adapter with
// garbage after its tensor data passed the local check, was uploaded, Ollama refused it, and its blob stayed on
// the server. Now deploy refuses it (exit 1, naming the trailing bytes) before anything reaches the server: the
// file's blob is not there and no model was made.
func TestDeployRefusesTrailingBytesBeforeUpload(t *testing.T) {
	c := ollamatest.Client(t)
	ctx := context.Background()
	dir := t.TempDir()
	base := filepath.Join(dir, "base.gguf")
	m, _, err := tinymodel.Write(ctx, base, 3, 0.05, gguf.TypeF32)
	if err != nil {
		t.Fatal(err)
	}
	a, err := llama.NewAdapter(m, llama.LoRAConfig{Rank: 2, Targets: []string{"attn_q"}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "a.gguf")
	if err := weights.SaveAdapter(good, a, ""); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "trailing.gguf")
	raw = append(raw, "garbage"...)
	if err := os.WriteFile(bad, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	name := "fastslow-issue14-trailing"
	t.Cleanup(func() { _ = c.Delete(context.Background(), name) })
	env := []string{"FASTSLOW_HOME=" + t.TempDir(), "OLLAMA_HOST=" + c.Host()}
	_, stderr, code := runCLI(t, env, "deploy", "--base", base, "--adapter", bad, "--name", name)
	if code != exitFailure || !strings.Contains(stderr, "follow the tensor data") {
		t.Fatalf("deploy of an adapter with trailing bytes: exit %d, %s", code, stderr)
	}
	sum := sha256.Sum256(raw)
	if blobStatus(t, c.Host(), "sha256:"+hex.EncodeToString(sum[:])) != http.StatusNotFound {
		t.Errorf("the refused adapter's blob is on the server")
	}
	// The same question about a blob that was uploaded is answered yes (the check can fail).
	digest, err := c.UploadBlob(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	if got := blobStatus(t, c.Host(), digest); got != http.StatusOK {
		t.Errorf("HEAD of an uploaded blob: %d", got)
	}
	models, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range models {
		if strings.HasPrefix(x.Name, name) {
			t.Errorf("a model %s was made", x.Name)
		}
	}
}

// blobStatus asks the server whether it holds the blob with digest ("sha256:...").
func blobStatus(t *testing.T, host, digest string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodHead, host+"/api/blobs/"+digest, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestIssue14Item12: the rough edges of item 12 not covered elsewhere (missing files exit 2: TestBadInput;
// generate --json, lab --data with one task, learn with Ollama down: TestIssue14Rough; --version: TestVersion):
// prompts export takes --json; an invalid --task is refused (exit 2) before anything is created; prompts
// rollback errors do not leak "item 0".
func TestIssue14Item12(t *testing.T) {
	home := t.TempDir()
	seedStore(t, home)
	env := []string{"FASTSLOW_HOME=" + home}
	var doc prompts.Document
	runJSON(t, env, &doc, "prompts", "export", "qa", "--json")
	if len(doc.Tasks) != 1 || doc.Tasks[0].Task.Name != "qa" {
		t.Errorf("prompts export --json: %+v", doc)
	}
	for _, args := range [][]string{{"prompts", "rollback", "math"}, {"prompts", "rollback", "qa", "--to", "9"}, {"prompts", "rollback", "qa"}} {
		_, stderr, code := runCLI(t, env, args...)
		if code != exitFailure || strings.Contains(stderr, "item 0") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, %q", args, code, stderr)
		}
	}

	fresh := t.TempDir()
	data := filepath.Join(t.TempDir(), "d.jsonl")
	writeJSONL(t, data, facts()[:2])
	for _, task := range []string{"bad name", "../up", ""} {
		_, stderr, code := runCLI(t, []string{"FASTSLOW_HOME=" + fresh, "OLLAMA_HOST=127.0.0.1:1"}, "learn", "--task", task, "--data", data)
		if code != exitUsage || !strings.Contains(stderr, "--task") {
			t.Errorf("learn --task %q: exit %d, %q", task, code, stderr)
		}
	}
	if entries, _ := os.ReadDir(fresh); len(entries) != 0 {
		t.Errorf("an invalid --task left %d entries in home", len(entries))
	}
}

// TestLabExperimentKeepsTheMainReport reproduces issue 14 item 13's first part: `lab cyclic` (as spurious and
// capacity) with the configured output directory writes its report into its own subdirectory, and leaves the
// stream report there (report.md and its figures) as it was. (Stale figures of an earlier report in the same
// directory: eval/report TestNoStalePlots.)
func TestLabExperimentKeepsTheMainReport(t *testing.T) {
	out := filepath.Join(t.TempDir(), "rep")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	main := map[string]string{"report.md": "# the stream report\n", "forgetting.png": "a figure"}
	for name, text := range main {
		if err := os.WriteFile(filepath.Join(out, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stdout, stderr, code := runCLI(t, []string{"FASTSLOW_OUT=" + out}, "lab", "cyclic", "--seeds", "2", "--docs", "3", "--epochs", "3", "--steps-per-doc", "1")
	if code != 0 {
		t.Fatalf("lab cyclic: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "wrote "+filepath.Join(out, "cyclic", "report.md")) {
		t.Errorf("lab cyclic: %q", stdout)
	}
	for name, text := range main {
		if b, err := os.ReadFile(filepath.Join(out, name)); err != nil || string(b) != text {
			t.Errorf("%s after lab cyclic: %q, %v", name, b, err)
		}
	}
}
