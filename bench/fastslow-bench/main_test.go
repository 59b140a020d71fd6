package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/cpu"
)

// TestMain lets the test binary serve as the Go worker the command starts in child processes.
func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// tinyArgs is a model small enough for tests.
var tinyArgs = []string{"-vocab", "300", "-dim", "32", "-ffn", "64", "-layers", "1", "-heads", "4", "-kv-heads", "2",
	"-batch", "2", "-seq", "16", "-rounds", "2", "-steps", "2", "-warmup", "1", "-score-seqs", "1", "-score-len", "24",
	"-sgemm-reps", "2"}

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		xs                    []float64
		med, min, max, q1, q3 float64
	}{
		{[]float64{5}, 5, 5, 5, 5, 5},
		{[]float64{3, 1, 2}, 2, 1, 3, 1.5, 2.5},
		{[]float64{4, 1, 3, 2}, 2.5, 1, 4, 1.75, 3.25},
	} {
		s := summarize(tc.xs)
		got := []float64{s.Median, s.Min, s.Max, s.Q1, s.Q3}
		want := []float64{tc.med, tc.min, tc.max, tc.q1, tc.q3}
		if !slices.Equal(got, want) {
			t.Errorf("summarize(%v) = %v, want %v", tc.xs, got, want)
		}
	}
	if s := summarize(nil); s.N != 0 || s.String() != "—" {
		t.Errorf("summarize(nil) = %+v", s)
	}
	if got := summarize([]float64{1, 2, 3, 4, 5}).spread(); math.Abs(got-2.0/3) > 1e-12 {
		t.Errorf("spread = %v, want 2/3", got)
	}
}

func TestParseFlagsErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-rounds", "0"},
		{"-steps", "-1"},
		{"-score-len", "1"},
		{"-threads", "0"},
		{"-heads", "3"},    // dim 256 is not a multiple of 3
		{"-kv-heads", "3"}, // 8 heads are not a multiple of 3
		{"-rank", "0"},     // LoRA rank must be positive
		{"extra-argument"}, // no positional arguments
		{"-no-such-flag"},  // unknown flag
	} {
		if _, err := parseFlags(args, &bytes.Buffer{}); err == nil {
			t.Errorf("parseFlags(%q) succeeded", args)
		}
	}
}

// TestSetupRoundTrip checks that the directory setup writes reads back to the same model, adapter and batch.
func TestSetupRoundTrip(t *testing.T) {
	o, err := parseFlags(tinyArgs, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tok, err := setup(context.Background(), dir, &o.cfg, 24, 3)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Size() != o.cfg.Vocab || len(o.cfg.ScoreSeqs) != 3 {
		t.Fatalf("vocab %d, %d scoring sequences", tok.Size(), len(o.cfg.ScoreSeqs))
	}
	c, m, a, batch, err := loadBench(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Vocab != 300 || len(batch) != 2 || len(batch[0]) != 16 {
		t.Fatalf("config %+v, batch %d×%d", c, len(batch), len(batch[0]))
	}
	all, err := readLE[float32](filepath.Join(dir, weightsFile))
	if err != nil {
		t.Fatal(err)
	}
	params := append(m.Tensors(), a.Params()...)
	for i, p := range params {
		e := c.Tensors[i]
		if e.Name != p.Name || !slices.Equal(p.Data, all[e.Offset:e.Offset+len(p.Data)]) {
			t.Fatalf("tensor %d (%s) did not round-trip", i, p.Name)
		}
	}
	nonzero := false
	for _, p := range a.Params() {
		if strings.HasSuffix(p.Name, ".lora_b") && slices.ContainsFunc(p.Data, func(v float32) bool { return v != 0 }) {
			nonzero = true
		}
	}
	if !nonzero {
		t.Error("every LoRA B is zero: the cross-check would not cover the LoRA branch")
	}
}

// TestRunGoOnly runs the whole command on a tiny model without the other sides and checks the report.
func TestRunGoOnly(t *testing.T) {
	js := filepath.Join(t.TempDir(), "out.json")
	var out, errb bytes.Buffer
	args := append(slices.Clone(tinyArgs), "-no-torch", "-no-ollama", "-json", js)
	if err := run(context.Background(), args, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	for _, want := range []string{"LoRA training, tokens/s", "forward scoring, tokens/s", "Matrix multiply", "peak RSS"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Rounds) != 2 || len(rep.Rounds[0].GoTrain) != 2 || len(rep.Rounds[1].GoScore) != 1 ||
		rep.Rounds[0].GoTrainRSS <= 0 || len(rep.Rounds[0].GoSgemm) == 0 {
		t.Errorf("JSON report incomplete: %s", b)
	}
}

// TestTorchCrossCheck runs the PyTorch side on a tiny model: the loss and LoRA gradients must match. It needs
// python3 with torch and numpy, and is skipped without them.
func TestTorchCrossCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PyTorch")
	}
	python := "python3"
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		python = "/usr/bin/python3" // Debian's python3-torch lives there, whatever else is first in PATH
	}
	if err := exec.Command(python, "-c", "import torch, numpy").Run(); err != nil {
		t.Skipf("no PyTorch: %v", err)
	}
	var out, errb bytes.Buffer
	args := append(slices.Clone(tinyArgs), "-no-ollama", "-no-sgemm", "-rounds", "1", "-python", python)
	if err := run(context.Background(), args, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), ": passed.") {
		t.Errorf("cross-check did not pass:\n%s", out.String())
	}
}

func TestResolveCore(t *testing.T) {
	auto := fastestCore()
	if auto == "" {
		auto = "detect"
	}
	for _, tc := range []struct {
		flag, want string
		ok         bool
	}{
		{"auto", auto, true},
		{"detect", "detect", true},
		{"", "detect", true},
		{"Prescott", "Prescott", true},
		{"SkylakeX", "SkylakeX", cpu.X86.HasAVX512F},
		{"Haswell", "Haswell", cpu.X86.HasAVX2},
	} {
		got, err := resolveCore(tc.flag)
		if (err == nil) != tc.ok || err == nil && got != tc.want {
			t.Errorf("resolveCore(%q) = %q, %v; want %q (ok %v)", tc.flag, got, err, tc.want, tc.ok)
		}
	}
}
