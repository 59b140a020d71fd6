package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastslow/fastslow/weights/gguf"
)

// TestTrainInterrupt: Ctrl-C stops training with exit 130, the progress shows where it stopped, the
// checkpoint is kept, and the same command resumes from it.
func TestTrainInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a tiny model")
	}
	dir := t.TempDir()
	base := tinyBase(t, dir, 7, gguf.TypeF32)
	data := factsFile(t, dir, "facts.jsonl", len(facts()))
	out := filepath.Join(dir, "a.gguf")
	args := []string{"train", "--base", base, "--data", data, "--out", out, "--steps", "100", "--checkpoint-every", "5"}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(hermeticEnv(), "FASTSLOW_HOME="+t.TempDir())
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) == 1 { // the first progress line: training runs; wait for a checkpoint, then stop it
			for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				if _, err := os.Stat(out + ".ckpt"); err == nil {
					break
				}
			}
			if err := cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
		}
	}
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted {
		t.Fatalf("interrupted run: %v, want exit %d; stderr:\n%s", err, exitInterrupted, strings.Join(lines, "\n"))
	}
	// Plain lines (stderr is a pipe): the first step, the step it stopped at, then the message.
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "train: 1/100 steps (1%)") || !strings.Contains(lines[0], "loss ") ||
		!strings.HasPrefix(lines[len(lines)-2], "train: ") || !strings.Contains(lines[len(lines)-1], "checkpoint kept in "+out+".ckpt") {
		t.Errorf("stderr of the interrupted run:\n%s", strings.Join(lines, "\n"))
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("an interrupted run wrote the adapter")
	}

	stdout, errOut, code := runCLI(t, nil, append(args, "--json")...)
	if code != 0 {
		t.Fatalf("resume: exit %d: %s", code, errOut)
	}
	if errOut != "" {
		t.Errorf("--json printed progress: %q", errOut)
	}
	var sum struct {
		Steps       int `json:"steps"`
		ResumedFrom int `json:"resumed_from"`
	}
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Steps != 100 || sum.ResumedFrom < 5 {
		t.Errorf("resumed from step %d to %d, want from 5 or later to 100", sum.ResumedFrom, sum.Steps)
	}
}

// TestTrainFromConfig: the LoRA shape and the training settings come from the configuration file when no
// flag gives them, and the base from FASTSLOW_MODEL.
func TestTrainFromConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a tiny model")
	}
	dir := t.TempDir()
	base := tinyBase(t, dir, 9, gguf.TypeF32)
	data := factsFile(t, dir, "facts.jsonl", 4)
	cfg := writeConfig(t, dir, "rank: 2\ntargets: [attn_v]\nsteps: 3\nbatch: 2\n")
	out := filepath.Join(dir, "a.gguf")
	stdout, stderr, code := runCLI(t, []string{"FASTSLOW_MODEL=" + base}, "train", "--config", cfg, "--data", data, "--out", out, "--steps", "4", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var sum struct{ Steps int }
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil || sum.Steps != 4 {
		t.Fatalf("summary %q (%v): want the flag's 4 steps", stdout, err)
	}
	f, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	for _, ti := range f.Tensors {
		names = append(names, ti.Name)
		if strings.HasSuffix(ti.Name, ".lora_a") && (len(ti.Shape) != 2 || ti.Shape[1] != 2) {
			t.Errorf("%s has shape %v: want rank 2 (from the file)", ti.Name, ti.Shape)
		}
	}
	for _, n := range names {
		if !strings.Contains(n, "attn_v") {
			t.Fatalf("tensor %s: the adapter should target attn_v only (from the file); tensors %v", n, names)
		}
	}
	if len(names) == 0 {
		t.Fatal("the adapter has no tensors")
	}
}
