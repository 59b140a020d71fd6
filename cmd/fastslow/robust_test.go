package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/weights/gguf"
)

// TestOllamaNotAnswering: an HTTP server that is not Ollama, and one that accepts connections and never
// answers (a stopped Ollama), both exit with code 3 and one line that pastes nothing from the server.
func TestOllamaNotAnswering(t *testing.T) {
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte("<!DOCTYPE html><html><body>\x1b[31mnot here</body></html>"))
	}))
	defer html.Close()
	silent := ollamatest.SilentServer(t)
	for _, tc := range []struct {
		name, host, want string
	}{
		{"not Ollama", html.URL, "not Ollama"},
		{"silent", silent, "no answer within 300ms"},
	} {
		_, stderr, code := runCLI(t, []string{"FASTSLOW_HOST=" + tc.host, "FASTSLOW_TIMEOUT=300ms"}, "models")
		first, _, _ := strings.Cut(stderr, "\n")
		if code != exitUnreachable || !strings.Contains(first, tc.want) || strings.ContainsAny(stderr, "<\x1b") {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", tc.name, code, stderr, exitUnreachable, tc.want)
		}
	}
}

// TestHugeLinesRefused: JSONL lines of 8 and 64 MiB are refused by `learn` with one line naming the file,
// the line and the max_line setting, by a process whose peak RSS stays under 200 MB, and nothing is created
// in the home directory. Time is logged, not asserted (the issue asks < 1 s; see the report).
func TestHugeLinesRefused(t *testing.T) {
	dir := t.TempDir()
	for _, mib := range []int{8, 64} {
		path := filepath.Join(dir, fmt.Sprintf("huge%d.jsonl", mib))
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(f, `{"prompt": "Q: fine?\nA:", "completion": " yes"}`)
		f.WriteString(`{"prompt": "`)
		chunk := bytes.Repeat([]byte("abcdefgh"), 1<<17) // 1 MiB
		for range mib {
			f.Write(chunk)
		}
		f.WriteString(`", "completion": " x"}` + "\n")
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		home := t.TempDir()
		code, rss, elapsed, stderr := measured(t, []string{"FASTSLOW_HOME=" + home, "OLLAMA_HOST=127.0.0.1:1"},
			binary, "learn", "--task", "t", "--data", path)
		t.Logf("%d MiB line: exit %d in %s, peak RSS %d KiB: %s", mib, code, elapsed.Round(time.Millisecond), rss, strings.TrimSpace(stderr))
		if code != exitFailure || !strings.Contains(stderr, path+":2: line too long") ||
			!strings.Contains(stderr, "max_line") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%d MiB line: exit %d, stderr %q", mib, code, stderr)
		}
		if rss > 200<<10 {
			t.Errorf("%d MiB line: peak RSS %d KiB, want < 200 MB", mib, rss)
		}
		if entries, _ := os.ReadDir(home); len(entries) != 0 {
			t.Errorf("%d MiB line: learn left %d entries in home", mib, len(entries))
		}
	}
}

// TestVersion: --version prints the build and exits 0.
func TestVersion(t *testing.T) {
	stdout, stderr, code := runCLI(t, nil, "--version")
	if code != 0 || !strings.HasPrefix(stdout, "fastslow version ") || stderr != "" {
		t.Errorf("--version: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestFileStringsEscaped: an adapter whose tensor name carries terminal escapes (clear screen, red) is
// refused with an error that prints them escaped; so do the trailing bytes of a GGUF and a FIFO given as
// the model, which is refused at once instead of blocking.
func TestFileStringsEscaped(t *testing.T) {
	dir := t.TempDir()
	base := tinyBase(t, dir, 21, gguf.TypeF32)
	data := factsFile(t, dir, "d.jsonl", 2)
	w := gguf.NewWriter()
	for k, v := range map[string]any{"general.architecture": "llama", "general.type": "adapter", "adapter.type": "lora", "adapter.lora.alpha": float32(1)} {
		if err := w.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.AddTensor("blk.0.attn_q.weight\x1b[2J\x1b[31mPWNED.lora_a", gguf.TypeF32, []uint64{4}, make([]float32, 4)); err != nil {
		t.Fatal(err)
	}
	crafted := filepath.Join(dir, "crafted.gguf")
	if err := w.WriteFile(crafted); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	trailing := filepath.Join(dir, "trailing.gguf")
	if err := os.WriteFile(trailing, append(raw, "\x1b[2Jgarbage"...), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.gguf")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"crafted tensor name", []string{"score", "--model", base, "--adapter", crafted, "--data", data}, `\x1b[2J`},
		{"trailing bytes", []string{"score", "--model", trailing, "--data", data}, "follow the tensor data"},
		{"FIFO as model", []string{"score", "--model", fifo, "--data", data}, "not a regular file"},
	} {
		_, stderr, code := runCLI(t, nil, tc.args...)
		if code != exitFailure || strings.Contains(stderr, "\x1b") || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 1 with %q and no raw escape", tc.name, code, stderr, tc.want)
		}
	}
}

// TestIssue14Rough: generate takes --json; lab --data with one task is refused before any run; learn with
// Ollama down says so as a note, not an error, and succeeds.
func TestIssue14Rough(t *testing.T) {
	dir := t.TempDir()
	var gen struct {
		Text   string `json:"text"`
		Tokens int    `json:"tokens"`
	}
	runJSON(t, nil, &gen, "generate", "--json", "--max-tokens", "3", "Q: What is the capital of Zorblia?\nA:")
	if gen.Tokens == 0 {
		t.Errorf("generate --json: %+v", gen)
	}
	one := filepath.Join(dir, "one.jsonl")
	ex := facts()[:10]
	for i := range ex {
		ex[i].Task = "only"
	}
	writeJSONL(t, one, ex)
	if _, stderr, code := runCLI(t, []string{"OLLAMA_HOST=127.0.0.1:1"}, "lab", "--data", one, "--out", filepath.Join(dir, "r")); code != exitUsage || !strings.Contains(stderr, "at least 2 tasks") {
		t.Errorf("lab --data with one task: exit %d, %s", code, stderr)
	}
	for _, bad := range []string{"nonsense", "inject0"} {
		_, stderr, code := runCLI(t, []string{"OLLAMA_HOST=127.0.0.1:1"}, "lab", "--tasks", bad, "--out", filepath.Join(dir, "r"))
		if code != exitUsage || !strings.Contains(stderr, strconv.Quote(bad)) || strings.Count(stderr, "known:") > 1 {
			t.Errorf("lab --tasks %s: exit %d, %s", bad, code, stderr)
		}
	}
	data := factsFile(t, dir, "d.jsonl", 4)
	_, stderr, code := runCLI(t, []string{"OLLAMA_HOST=127.0.0.1:1", "FASTSLOW_STEPS=5"}, "learn", "--task", "t", "--data", data)
	if code != 0 || strings.Contains(stderr, "fastslow:") || !strings.Contains(stderr, "note: Ollama does not answer") {
		t.Errorf("learn with Ollama down: exit %d, stderr %q", code, stderr)
	}
}

// rssChildEnv makes the test binary a measuring parent (see init): it runs the command in its environment's
// rssArgsEnv, waits, and prints the exit code, the child's peak RSS in KiB and the elapsed nanoseconds. The
// indirection matters: on Linux a child started by a large process (this test binary, after other tests)
// inherits that process's peak RSS through vfork and exec, so its own figure would be wrong.
const (
	rssChildEnv = "FASTSLOW_TEST_RSS_PARENT"
	rssArgsEnv  = "FASTSLOW_TEST_RSS_ARGS"
)

func init() {
	if os.Getenv(rssChildEnv) == "" {
		return
	}
	args := strings.Split(os.Getenv(rssArgsEnv), "\x1f")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stderr = os.Stderr
	start := time.Now()
	_ = cmd.Run()
	elapsed := time.Since(start)
	if cmd.ProcessState == nil {
		os.Exit(99)
	}
	fmt.Printf("%d %d %d\n", cmd.ProcessState.ExitCode(), cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss, elapsed.Nanoseconds())
	os.Exit(0)
}

// measured runs the command through a fresh, small measuring parent and returns its exit code, peak RSS
// (KiB), run time and standard error.
func measured(t *testing.T, env []string, args ...string) (code int, rssKiB int64, elapsed time.Duration, stderr string) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(append(hermeticEnv(), env...), rssChildEnv+"=1", rssArgsEnv+"="+strings.Join(args, "\x1f"))
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("measuring parent: %v: %s", err, errb.String())
	}
	var ns int64
	if _, err := fmt.Sscan(string(out), &code, &rssKiB, &ns); err != nil {
		t.Fatalf("measuring parent printed %q: %v", out, err)
	}
	return code, rssKiB, time.Duration(ns), errb.String()
}
