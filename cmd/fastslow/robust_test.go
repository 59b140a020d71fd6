package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	defer func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, tc := range []struct {
		name, host, want string
	}{
		{"not Ollama", html.URL, "not Ollama"},
		{"silent", l.Addr().String(), "no answer within 300ms"},
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
		cmd := exec.Command(binary, "learn", "--task", "t", "--data", path)
		cmd.Env = append(hermeticEnv(), "FASTSLOW_HOME="+home, "OLLAMA_HOST=127.0.0.1:1")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start := time.Now()
		err = cmd.Run()
		elapsed := time.Since(start)
		code := cmd.ProcessState.ExitCode()
		rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB on Linux
		t.Logf("%d MiB line: exit %d in %s, peak RSS %d KiB: %s", mib, code, elapsed.Round(time.Millisecond), rss, strings.TrimSpace(stderr.String()))
		if code != exitFailure || !strings.Contains(stderr.String(), path+":2: line too long") ||
			!strings.Contains(stderr.String(), "max_line") || strings.Count(strings.TrimSpace(stderr.String()), "\n") != 0 {
			t.Errorf("%d MiB line: exit %d, stderr %q", mib, code, stderr.String())
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
