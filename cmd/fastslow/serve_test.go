package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/internal/ollamatest"
)

// TestServeRefuses: the command's own refusals and their exit codes, before anything listens.
func TestServeRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
		msg  string
	}{
		{"non-loopback without a token", nil, []string{"serve", "--addr", "0.0.0.0:0"}, exitUsage, "needs a token"},
		{"bad address", nil, []string{"serve", "--addr", "nonsense"}, exitUsage, "serve_addr"},
		{"bad body limit", nil, []string{"serve", "--max-body", "0"}, exitUsage, "max_body"},
		{"no Ollama", nil, []string{"serve", "--host", "127.0.0.1:1", "--addr", "127.0.0.1:0"}, exitUnreachable, "Ollama"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, tc.env, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) {
				t.Errorf("fastslow %v: exit %d, stderr %q; want exit %d saying %q", tc.args, code, stderr, tc.code, tc.msg)
			}
		})
	}
}

// TestServeCommand runs `fastslow serve --json` as a user would: it prints where it listens, answers a task
// with an id, takes feedback on it, passes /api/version through to Ollama, and stops with exit 0 on SIGINT.
func TestServeCommand(t *testing.T) {
	c := ollamatest.Client(t)
	cmd := exec.Command(binary, "serve", "--addr", "127.0.0.1:0", "--json", "--host", c.Host())
	cmd.Dir = t.TempDir()
	cmd.Env = append(hermeticEnv(), "FASTSLOW_HOME="+t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		t.Fatalf("no first line; stderr: %s", stderr.String())
	}
	var hello struct {
		Listening string `json:"listening"`
		Token     bool   `json:"token"`
	}
	if err := json.Unmarshal(lines.Bytes(), &hello); err != nil || !strings.HasPrefix(hello.Listening, "http://127.0.0.1:") {
		t.Fatalf("first line %q (%v)", lines.Text(), err)
	}
	go func() { // keep reading, so that event lines never block the server
		for lines.Scan() {
		}
	}()
	post := func(path, body string) map[string]any {
		resp, err := http.Post(hello.Listening+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %s %v %v", path, resp.Status, out, err)
		}
		return out
	}
	gen := post("/api/generate", `{"model":"fastslow/people","prompt":"Q: Where was Beren Dun born?\nA:","stream":false}`)
	id, _ := gen["fastslow_id"].(string)
	if id == "" {
		t.Fatalf("answer without an id: %v", gen)
	}
	if fb := post("/fastslow/feedback", `{"id":"`+id+`","score":0,"answer":"Dunmeris"}`); fb["record"] == nil {
		t.Errorf("feedback: %v", fb)
	}
	resp, err := http.Get(hello.Listening + "/api/version")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/api/version: %s", resp.Status)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("after SIGINT: %v; stderr: %s", err, stderr.String())
	}
}
