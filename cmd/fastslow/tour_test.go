package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastslow/fastslow/internal/ollamatest"
)

// tourScript returns the shell block of the README's "A five-minute tour", as written.
func tourScript(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "## A five-minute tour")
	if !ok {
		t.Fatal("README has no tour section")
	}
	_, rest, ok = strings.Cut(rest, "```sh\n")
	block, _, ok2 := strings.Cut(rest, "\n```")
	if !ok || !ok2 {
		t.Fatal("the tour has no sh block")
	}
	return block
}

// ollamaBinary finds an ollama command for the tour's `ollama run`: the one FASTSLOW_OLLAMA_BIN names (.ci/run
// exports the binary of the server under test), else on PATH, else the newest version .ci/build-ollama built
// into $FASTSLOW_CACHE (default ~/.cache/fastslow).
func ollamaBinary() string {
	if p := os.Getenv("FASTSLOW_OLLAMA_BIN"); p != "" {
		return p
	}
	if p, err := exec.LookPath("ollama"); err == nil {
		return p
	}
	cache := os.Getenv("FASTSLOW_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "fastslow")
	}
	found, _ := filepath.Glob(filepath.Join(cache, "ollama-v*", "bin", "ollama"))
	newest, newestVersion := "", ""
	for _, p := range found {
		// .../ollama-v0.17.4/bin/ollama: names sort as text (v0.6.5 after v0.17.4), versions do not.
		v := strings.TrimPrefix(filepath.Base(filepath.Dir(filepath.Dir(p))), "ollama-v")
		if newest == "" || ollamatest.CompareVersions(v, newestVersion) > 0 {
			newest, newestVersion = p, v
		}
	}
	return newest
}

// TestReadmeTour runs the README's tour, as written, with bash -e on a fresh HOME in an empty directory,
// against the Ollama at OLLAMA_HOST. The only changes: `go install ./cmd/fastslow` is this test's build of
// the command (put first on PATH), `less` pages to nowhere, and the lab (minutes long) runs only with
// FASTSLOW_TOUR_LAB=1. Every command must succeed.
func TestReadmeTour(t *testing.T) {
	c := ollamatest.Client(t)
	ollamaBin := ollamaBinary()
	if ollamaBin == "" {
		t.Skip("no ollama command for the tour's `ollama run` (not on PATH nor in $FASTSLOW_CACHE)")
	}
	script := tourScript(t)
	var lines []string
	for _, l := range strings.Split(script, "\n") {
		switch {
		case strings.HasPrefix(l, "go install ./cmd/fastslow"):
			continue // the test's binary is on PATH
		case strings.HasPrefix(l, "fastslow lab") && os.Getenv("FASTSLOW_TOUR_LAB") == "":
			// The lab alone takes 6 to 25 minutes on 2 cores; too much for every test run.
			t.Log("the lab step is left out (FASTSLOW_TOUR_LAB=1 runs it)")
			continue
		}
		lines = append(lines, l)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(binary, filepath.Join(bin, "fastslow")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(ollamaBin, filepath.Join(bin, "ollama")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "less"), []byte("#!/bin/sh\ncat \"$@\" >/dev/null\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(dir, "work")
	home := filepath.Join(dir, "home")
	for _, d := range []string{work, home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("bash", "-e", "-x", "-c", strings.Join(lines, "\n"))
	cmd.Dir = work
	cmd.Env = append(hermeticEnv(), "HOME="+home, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"OLLAMA_HOST="+c.Host())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	t.Logf("tour took %s", time.Since(start).Round(time.Second))
	if err != nil {
		t.Fatalf("the README's tour failed: %v\n%s", err, out.String())
	}
	// What the tour made in Ollama goes; fastslow's own versions are named after the learner.
	ollamatest.DeleteOnCleanup(t, "fastslow-capitals")
	if testing.Verbose() {
		t.Log(out.String())
	}
}
