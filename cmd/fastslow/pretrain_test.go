package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fastslow/fastslow/eval/pretrain"
)

// tinyPretrainRecipe writes a recipe that trains in seconds (small world, no prose, tiny model).
func tinyPretrainRecipe(t *testing.T, dir string, steps int) string {
	t.Helper()
	r := pretrain.DefaultRecipe()
	r.Name = "tiny"
	r.World = pretrain.WorldRecipe{Seed: 5, Known: 10, Newcomers: 5, TrainFrac: 0.6, ValFrac: 0.2}
	r.Corpus = pretrain.CorpusRecipe{BioVariants: 2, BioRepeats: 1, ChunkTokens: 64}
	r.Mix.ContextPeople = 6
	r.VocabSize = 320
	r.Model = pretrain.ModelRecipe{Dim: 32, Hidden: 64, Layers: 1, Heads: 2, KVHeads: 2, ContextLength: 256,
		RopeBase: 10000, NormEps: 1e-5, TiedOutput: true, InitStd: 0.02, InitSeed: 3}
	r.Train.Steps, r.Train.BatchSize, r.Train.Warmup = steps, 8, 4
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "recipe.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPretrainCmd(t *testing.T) {
	dir := t.TempDir()
	recipe := tinyPretrainRecipe(t, dir, 20)
	out := filepath.Join(dir, "m.gguf")

	stdout, stderr, code := runCLI(t, nil, "pretrain", "--recipe", recipe, "--out", out, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep pretrain.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, stdout)
	}
	if rep.Out != out || rep.Steps != 20 || rep.FileBytes == 0 || len(rep.Eval.Facts) == 0 || len(rep.Eval.InContext) == 0 {
		t.Errorf("report %+v", rep)
	}
	if st, err := os.Stat(out); err != nil || st.Size() != rep.FileBytes {
		t.Errorf("model file: %v", err)
	}

	// The recipe recorded in the model repeats the run; --steps overrides it; progress lines show.
	again := filepath.Join(dir, "again.gguf")
	stdout, stderr, code = runCLI(t, nil, "pretrain", "--recipe", out, "--out", again, "--steps", "10")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"step    10/10", "wrote " + again, "facts from pretraining", "facts given in the prompt"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}

	stdout, _, code = runCLI(t, nil, "pretrain", "--print-recipe")
	var printed pretrain.Recipe
	if err := json.Unmarshal([]byte(stdout), &printed); code != 0 || err != nil || !reflect.DeepEqual(printed, pretrain.DefaultRecipe()) {
		t.Errorf("--print-recipe: exit %d, %v:\n%s", code, err, stdout)
	}

	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"name": "x", "vocab_size": 10}`), 0o644); err != nil {
		t.Fatal(err)
	}
	unknown := filepath.Join(dir, "unknown.json")
	if err := os.WriteFile(unknown, []byte(`{"nmae": "x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"pretrain", "--recipe", bad, "--out", filepath.Join(dir, "x.gguf")},
		{"pretrain", "--recipe", unknown, "--out", filepath.Join(dir, "x.gguf")},
		{"pretrain", "--out", ""},
		{"pretrain", "--steps", "-1", "--out", filepath.Join(dir, "x.gguf")},
		{"pretrain", "extra"},
	} {
		if _, stderr, code := runCLI(t, nil, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d: %s", args, code, exitUsage, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.gguf")); !os.IsNotExist(err) {
		t.Errorf("a failed run left a model behind: %v", err)
	}
}

// TestPretrainCmdInterrupt stops a run with SIGINT and resumes it with the same command.
func TestPretrainCmdInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a tiny model twice")
	}
	dir := t.TempDir()
	recipe := tinyPretrainRecipe(t, dir, 400)
	out := filepath.Join(dir, "m.gguf")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "pretrain", "--recipe", recipe, "--out", out)
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "step    50/") {
			if err := cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	for sc.Scan() { // drain
	}
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted {
		t.Fatalf("interrupted run: %v, want exit %d", err, exitInterrupted)
	}
	if _, err := os.Stat(pretrain.CheckpointPath(out)); err != nil {
		t.Fatalf("no checkpoint after the interrupt: %v", err)
	}
	stdout, stderr, code := runCLI(t, nil, "pretrain", "--recipe", recipe, "--out", out, "--json")
	if code != 0 {
		t.Fatalf("resume: exit %d: %s", code, stderr)
	}
	var rep pretrain.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.ResumedFrom < 50 || rep.Steps != 400 {
		t.Errorf("resumed from %d to %d, want from 50 or later to 400", rep.ResumedFrom, rep.Steps)
	}
}
