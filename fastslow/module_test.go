package fastslow_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/internal/ollamatest"
)

// agentProgram is a program in a module of its own that uses the public API only: one call to a working
// learner, then the agent loop. Its first argument is the state directory; with OLLAMA_HOST set it serves
// through Ollama.
const agentProgram = `package main

import (
	"context"
	"fmt"
	"os"

	"github.com/fastslow/fastslow/fastslow"
	"github.com/tmc/langchaingo/llms"
)

func main() {
	ctx := context.Background()
	var opts []fastslow.Option
	if os.Getenv("OLLAMA_HOST") != "" {
		opts = append(opts, fastslow.WithOllama(""))
	}
	learner, err := fastslow.Open(ctx, os.Args[1], opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer learner.Close()
	model := learner.LLM("people")
	q := "Q: Where was Damira Thalstone born?\nA:"
	before, _ := llms.GenerateFromSinglePrompt(ctx, model, q)
	model.Feedback(ctx, fastslow.Correction{Input: q, Output: before, Answer: "Wystmere"})
	after, _ := llms.GenerateFromSinglePrompt(ctx, model, q)
	fmt.Printf("%s|%s|%s\n", learner.Server().Name(), before, after)
}
`

// TestAgentProgramInItsOwnModule builds agentProgram in a module of its own (a replace directive points at
// this checkout) and runs it on the embedded model with the in-process engine, and again through Ollama.
func TestAgentProgramInItsOwnModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	root, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	checkout := filepath.Dir(strings.TrimSpace(string(root)))
	mod := t.TempDir()
	sum, err := os.ReadFile(filepath.Join(checkout, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"main.go": agentProgram,
		"go.sum":  string(sum),
		"go.mod": "module example.com/agent\n\ngo 1.26\n\nrequire github.com/fastslow/fastslow v0.0.0\n\n" +
			"replace github.com/fastslow/fastslow => " + checkout + "\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(mod, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Count(agentProgram[strings.Index(agentProgram, "func main"):strings.Index(agentProgram, "defer learner.Close()")], "\n")
	if lines > 15 {
		t.Fatalf("%d lines to a working learner, want at most 15", lines)
	}
	tidy := exec.Command("go", "mod", "tidy")
	tidy.Dir, tidy.Env = mod, append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	if out, err := tidy.CombinedOutput(); err != nil {
		t.Fatalf("go mod tidy: %v\n%s", err, out)
	}
	bin := filepath.Join(mod, "agent")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir, build.Env = mod, append(os.Environ(), "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	run := func(t *testing.T, env ...string) []string {
		cmd := exec.Command(bin, t.TempDir())
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("agent: %v %s", err, out)
		}
		return strings.Split(strings.TrimSpace(string(out)), "|")
	}
	t.Run("engine", func(t *testing.T) {
		got := run(t, "OLLAMA_HOST=")
		if len(got) != 3 || got[0] != "in-process engine" || strings.TrimSpace(got[2]) != "Wystmere" {
			t.Fatalf("agent printed %q", got)
		}
	})
	t.Run("ollama", func(t *testing.T) {
		c := ollamatest.Client(t)
		got := run(t, "OLLAMA_HOST="+c.Host())
		if len(got) != 3 || !strings.HasPrefix(got[0], "ollama at") || strings.TrimSpace(got[2]) != "Wystmere" {
			t.Fatalf("agent printed %q", got)
		}
	})
}
