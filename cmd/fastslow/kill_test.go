package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/prompts"
	"github.com/fastslow/fastslow/weights/gguf"
)

// killPoints is how many random moments each kill test interrupts its command at (issue 14 asks 20; 5
// with -short).
func killPoints() int {
	if testing.Short() {
		return 5
	}
	return 20
}

// runKilled starts the command and kills it with SIGKILL after delay (or lets it finish first). It
// reports whether the kill came before the command ended.
func runKilled(t *testing.T, env []string, delay time.Duration, args ...string) bool {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(hermeticEnv(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%v ended before the kill with %v: %s", args, err, stderr.String())
		}
		return false
	case <-time.After(delay):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
		return true
	}
}

// timed runs the command to completion, which must succeed, and returns how long it took.
func timed(t *testing.T, env []string, args ...string) time.Duration {
	t.Helper()
	start := time.Now()
	if _, stderr, code := runCLI(t, env, args...); code != 0 {
		t.Fatalf("%v: exit %d: %s", args, code, stderr)
	}
	return time.Since(start)
}

// storeTasks recovers what a killed writer left (doctor --fix, which must succeed: the store is never
// corrupt) and returns the task names with their current versions.
func storeTasks(t *testing.T, env []string) map[string]uint64 {
	t.Helper()
	if _, stderr, code := runCLI(t, env, "prompts", "doctor", "--fix"); code != 0 && !strings.Contains(stderr, "no prompt store yet") {
		t.Fatalf("doctor --fix after a kill: exit %d: %s", code, stderr)
	}
	var list promptsListOutput
	runJSON(t, env, &list, "prompts", "list", "--json")
	out := map[string]uint64{}
	for _, task := range list.Tasks {
		out[task.Name] = task.Version
	}
	return out
}

// TestKillImport kills `prompts import` of a 12-task document at random points: afterwards the store holds
// none of the document's tasks or all of them, and a rerun completes.
func TestKillImport(t *testing.T) {
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "src")
	s, err := prompts.Open(src, &prompts.Options{Small: true})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := range 12 {
		name := fmt.Sprintf("task%02d", i)
		names = append(names, name)
		if _, err := s.CreateTask(ctx, prompts.Task{Name: name}); err != nil {
			t.Fatal(err)
		}
		var notes []prompts.Note
		for j := range 150 {
			notes = append(notes, prompts.Note{Text: fmt.Sprintf("fact %d of %s: the river Ulm%d flows north into lake Vey%d", j, name, j, i)})
		}
		if _, err := s.AddNotes(ctx, name, notes); err != nil {
			t.Fatal(err)
		}
	}
	doc := filepath.Join(t.TempDir(), "doc.json")
	f, err := os.Create(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Export(ctx, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s.Close()

	full := timed(t, []string{"FASTSLOW_HOME=" + t.TempDir()}, "prompts", "import", doc)
	rng := rand.New(rand.NewPCG(14, 1))
	killed := 0
	for i := range killPoints() {
		env := []string{"FASTSLOW_HOME=" + t.TempDir()}
		delay := time.Duration(rng.Int64N(int64(full)))
		if runKilled(t, env, delay, "prompts", "import", doc) {
			killed++
		}
		got := storeTasks(t, env)
		if len(got) != 0 && len(got) != len(names) {
			t.Fatalf("kill %d at %s: the store holds %d of the %d tasks", i, delay, len(got), len(names))
		}
		if len(got) == 0 {
			timed(t, env, "prompts", "import", doc) // the rerun completes
			if got = storeTasks(t, env); len(got) != len(names) {
				t.Fatalf("kill %d: after the rerun the store holds %d tasks", i, len(got))
			}
		}
	}
	t.Logf("import takes %s; %d of %d kills landed before it ended", full.Round(time.Millisecond), killed, killPoints())
}

// TestKillLearn kills `fastslow learn` (in-process engine) at random points: the store is never corrupt,
// the task's prompt version never goes back, and a rerun completes.
func TestKillLearn(t *testing.T) {
	dir := t.TempDir()
	data := factsFile(t, dir, "capitals.jsonl", 6)
	env := []string{"FASTSLOW_HOME=" + filepath.Join(dir, "home"), "OLLAMA_HOST=127.0.0.1:1", "FASTSLOW_STEPS=20"}
	args := []string{"learn", "--task", "capitals", "--data", data}
	full := timed(t, env, args...)
	before := storeTasks(t, env)["capitals"]
	rng := rand.New(rand.NewPCG(14, 2))
	killed := 0
	for i := range killPoints() {
		delay := time.Duration(rng.Int64N(int64(full)))
		if runKilled(t, env, delay, args...) {
			killed++
		}
		after := storeTasks(t, env)["capitals"]
		if after < before {
			t.Fatalf("kill %d at %s: prompt version went back from %d to %d", i, delay, before, after)
		}
		timed(t, env, args...) // the rerun completes
		before = storeTasks(t, env)["capitals"]
	}
	if _, stderr, code := runCLI(t, env, "prompts", "doctor"); code != 0 {
		t.Fatalf("doctor after the kills: %s", stderr)
	}
	t.Logf("learn takes %s; %d of %d kills landed before it ended", full.Round(time.Millisecond), killed, killPoints())
}

// TestKillDeploy kills `fastslow deploy` at random points: Ollama then has no model of that name or one
// fastslow made, and a rerun completes.
func TestKillDeploy(t *testing.T) {
	c := ollamatest.Client(t)
	dir := t.TempDir()
	base := tinyBase(t, dir, 21, gguf.TypeF32)
	data := factsFile(t, dir, "d.jsonl", 4)
	adapter := filepath.Join(dir, "a.gguf")
	if _, stderr, code := runCLI(t, nil, "train", "--base", base, "--data", data, "--out", adapter, "--steps", "2"); code != 0 {
		t.Fatalf("train: %s", stderr)
	}
	env := []string{"OLLAMA_HOST=" + c.Host()}
	name := ollamatest.UniqueName(t, "fastslow-kill")
	ollamatest.DeleteOnCleanup(t, name)
	args := []string{"deploy", "--base", base, "--adapter", adapter, "--name", name, "--json"}
	stdout, stderr, code := runCLI(t, env, args...)
	if code != 0 {
		t.Fatalf("deploy: %s", stderr)
	}
	var d deployed
	if err := json.Unmarshal([]byte(stdout), &d); err != nil {
		t.Fatal(err)
	}
	ollamatest.DeleteOnCleanup(t, d.Base)
	if err := c.Delete(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	full := timed(t, env, args...)
	rng := rand.New(rand.NewPCG(14, 3))
	killed := 0
	for i := range killPoints() {
		if i%2 == 0 { // half the kills replace an existing model, half create a new one
			if err := c.Delete(context.Background(), name); err != nil {
				t.Fatal(err)
			}
		}
		delay := time.Duration(rng.Int64N(int64(full)))
		if runKilled(t, env, delay, args...) {
			killed++
		}
		if ms, err := c.List(context.Background()); err != nil {
			t.Fatal(err)
		} else {
			for _, m := range ms {
				if m.Name == name+":latest" {
					if ok, err := c.Made(context.Background(), name); err != nil || !ok {
						t.Fatalf("kill %d at %s: %s is there but not as fastslow made it (%v)", i, delay, name, err)
					}
				}
			}
		}
		timed(t, env, args...) // the rerun completes
	}
	t.Logf("deploy takes %s; %d of %d kills landed before it ended", full.Round(time.Millisecond), killed, killPoints())
}
