// Command fastslow-bench measures fastslow's slow channel against the tools users compare it with, side by
// side in one run on the same machine, model and shapes:
//
//   - LoRA training tokens/s against eager PyTorch (torchref.py, embedded in this command) with OpenBLAS,
//   - forward scoring tokens/s against PyTorch and against Ollama's prompt evaluation of the same GGUF,
//   - the matrix multiply core against OpenBLAS cblas_sgemm at the model's shapes,
//   - the peak resident memory of every side.
//
// Before timing anything it checks that PyTorch, given the same weights, adapter and batch, computes the same
// loss and LoRA gradients as the Go engine. Each measurement is repeated over several rounds, the sides
// alternating within a round, each in a fresh process; the report gives medians with their ranges and the
// machine's load, since on a shared machine the noise is part of the result.
//
// Usage, from the repository root (the defaults are the model of issue 7, about 5.5M parameters):
//
//	go run ./bench/fastslow-bench [-rounds 5] [-steps 8] [-ollama 127.0.0.1:11434] [-json out.json]
//
// The real-shape mode measures random-weight models at the shapes of qwen3 0.6B, llama-3.2 1B, gemma3 1B and
// qwen3 4B, written by the project and quantized by Ollama to Q4_K_M: LoRA training tokens/s through the
// library's training path, peak memory, a learning round through 'fastslow train', a FLOP model of the 1B
// shape, PyTorch at the 1B shape, and forward scoring against Ollama's prompt evaluation:
//
//	go run ./bench/fastslow-bench real [-models qwen3-0.6b,llama3.2-1b] [-rounds 3] [-json real.json]
//
// The PyTorch side needs python3 with torch and numpy (Debian: apt-get install python3-torch
// libopenblas0-pthread); it is skipped, with a note, when they are missing. The Ollama side is skipped when
// no server answers at -ollama (default $OLLAMA_HOST).
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/fastslow/fastslow/weights/tokenizer"
)

//go:embed torchref.py
var torchScript []byte

// options are the command-line settings.
type options struct {
	cfg            benchConfig
	rounds, steps  int
	warmup         int
	scoreLen       int
	scorePerRound  int
	python         string
	ollamaHost     string
	noTorch        bool
	noOllama       bool
	noSgemm        bool
	sgemmReps      int
	threads        int
	openblasCore   string
	jsonOut        string
	keep           string
	cpuProfile     string
	worker, dir    string
	maxLossDiff    float64
	maxGradRelDiff float64
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fastslow-bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("fastslow-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &o.cfg
	fs.IntVar(&c.Vocab, "vocab", 2048, "vocabulary size")
	fs.IntVar(&c.Dim, "dim", 256, "model width")
	fs.IntVar(&c.Hidden, "ffn", 704, "feed-forward width")
	fs.IntVar(&c.Layers, "layers", 6, "transformer blocks")
	fs.IntVar(&c.Heads, "heads", 8, "attention heads")
	fs.IntVar(&c.KVHeads, "kv-heads", 4, "key/value heads")
	fs.IntVar(&c.Rank, "rank", 8, "LoRA rank (on all seven projections)")
	var alpha float64
	fs.Float64Var(&alpha, "alpha", 16, "LoRA alpha")
	fs.IntVar(&c.Batch, "batch", 8, "training sequences per step")
	fs.IntVar(&c.Seq, "seq", 128, "tokens per training sequence")
	fs.IntVar(&o.rounds, "rounds", 5, "rounds; every side runs once per round, in a fresh process")
	fs.IntVar(&o.steps, "steps", 8, "timed training steps per round and side")
	fs.IntVar(&o.warmup, "warmup", 2, "untimed steps (and scoring sequences) before the timed ones")
	fs.IntVar(&o.scoreLen, "score-len", 512, "tokens per scoring sequence")
	fs.IntVar(&o.scorePerRound, "score-seqs", 4, "timed scoring sequences per round and side")
	fs.StringVar(&o.python, "python", "python3", "Python interpreter with torch and numpy")
	fs.StringVar(&o.ollamaHost, "ollama", os.Getenv("OLLAMA_HOST"), "Ollama server host:port for prompt evaluation")
	fs.BoolVar(&o.noTorch, "no-torch", false, "skip the PyTorch side")
	fs.BoolVar(&o.noOllama, "no-ollama", false, "skip the Ollama side")
	fs.BoolVar(&o.noSgemm, "no-sgemm", false, "skip the matrix multiply comparison")
	fs.IntVar(&o.sgemmReps, "sgemm-reps", 10, "timed calls per product, round and side")
	fs.IntVar(&o.threads, "threads", runtime.NumCPU(), "threads for every side (GOMAXPROCS, torch, OpenBLAS, Ollama)")
	fs.StringVar(&o.openblasCore, "openblas-core", "auto", "OPENBLAS_CORETYPE for the PyTorch and OpenBLAS sides: "+
		"a core name, 'detect' for OpenBLAS's own choice, or 'auto': the fastest kernels this CPU runs "+
		"(SkylakeX with AVX-512, Haswell with AVX2, else OpenBLAS's choice)")
	fs.StringVar(&o.jsonOut, "json", "", "also write every measurement to this JSON file")
	fs.StringVar(&o.keep, "keep", "", "write the model, weights and batch to this directory and keep them")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the Go training worker of the first round")
	fs.Float64Var(&o.maxLossDiff, "max-loss-diff", 1e-4, "largest relative loss difference the cross-check accepts")
	fs.Float64Var(&o.maxGradRelDiff, "max-grad-diff", 1e-3, "largest relative LoRA gradient difference the cross-check accepts")
	fs.StringVar(&o.worker, "worker", "", "internal: run one Go measurement (check, train, score, sgemm) on -dir")
	fs.StringVar(&o.dir, "dir", "", "internal: benchmark directory of -worker")
	err := fs.Parse(args)
	if err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	c.Alpha = float32(alpha)
	c.RopeBase, c.NormEps = 10000, 1e-5
	c.SeqMax = max(c.Seq, o.scoreLen) + 16
	switch {
	case o.rounds < 1 || o.steps < 1 || o.warmup < 0:
		return nil, errors.New("-rounds and -steps must be positive, -warmup not negative")
	case o.scoreLen < 2 || o.scorePerRound < 1:
		return nil, errors.New("-score-len must be at least 2 and -score-seqs positive")
	case o.threads < 1:
		return nil, errors.New("-threads must be positive")
	case o.sgemmReps < 1:
		return nil, errors.New("-sgemm-reps must be positive")
	}
	if err := errors.Join(c.llamaConfig().Validate(), c.loraConfig().Validate()); err != nil {
		return nil, err
	}
	if o.openblasCore, err = resolveCore(o.openblasCore); err != nil {
		return nil, err
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "real" {
		return runReal(ctx, args[1:], stdout, stderr)
	}
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if o.worker != "" {
		runtime.GOMAXPROCS(o.threads)
		return runWorker(ctx, stdout, o.worker, o.dir, o.steps, o.warmup, o.cpuProfile)
	}
	dir := o.keep
	if dir == "" {
		if dir, err = os.MkdirTemp("", "fastslow-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b := &bench{o: o, dir: dir, log: stderr, rep: report{Config: o.cfg, Threads: o.threads, CPU: cpuModel(),
		Started: time.Now().UTC().Format(time.RFC3339)}}
	if b.self, err = os.Executable(); err != nil {
		return err
	}
	b.logf("setting up the model in %s", dir)
	if b.tok, err = setup(ctx, dir, &o.cfg, o.scoreLen, o.rounds*(o.scorePerRound+o.warmup)); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	b.rep.Config = o.cfg
	b.rep.Config.ScoreSeqs, b.rep.Config.Tensors = nil, nil
	if err := b.measure(ctx); err != nil {
		return err
	}
	return writeReport(stdout, &b.rep, o.jsonOut)
}

// bench is one run of the comparison.
type bench struct {
	o      *options
	dir    string
	self   string // this executable, for the Go workers
	script string // torchref.py, written to dir
	tok    tokenizer.Tokenizer
	log    io.Writer
	rep    report
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "fastslow-bench: "+format+"\n", args...)
}

// measure runs the cross-check and then the rounds, filling b.rep.
func (b *bench) measure(ctx context.Context) error {
	torchOK, err := b.torchAvailable(ctx)
	if err != nil {
		return err
	}
	if err := b.crossCheck(ctx, torchOK); err != nil {
		return err
	}
	ob, err := b.ollamaSide(ctx)
	if err != nil {
		return err
	}
	if ob != nil {
		defer func() {
			if err := ob.close(context.WithoutCancel(ctx)); err != nil {
				b.logf("deleting the Ollama model: %v", err)
			}
		}()
	}
	b.rep.LoadBefore = loadAvg()
	for r := range b.o.rounds {
		if err := ctx.Err(); err != nil {
			return err
		}
		b.logf("round %d of %d (load %.1f)", r+1, b.o.rounds, loadAvg())
		round, err := b.round(ctx, r, torchOK, ob)
		if err != nil {
			return err
		}
		b.rep.Rounds = append(b.rep.Rounds, round)
	}
	b.rep.LoadAfter = loadAvg()
	return nil
}

// torchAvailable writes torchref.py and finds a Python with torch and numpy; without one (or with -no-torch)
// the PyTorch side is skipped, with a note.
func (b *bench) torchAvailable(ctx context.Context) (bool, error) {
	o := b.o
	if o.noTorch {
		return false, nil
	}
	b.script = filepath.Join(b.dir, "torchref.py")
	if err := os.WriteFile(b.script, torchScript, 0o644); err != nil {
		return false, err
	}
	python, err := findTorch(ctx, o.python)
	if err != nil {
		b.rep.Notes = append(b.rep.Notes, fmt.Sprintf("PyTorch side skipped: %v", err))
		return false, nil
	}
	o.python = python
	return true, nil
}

// crossCheck computes the loss and LoRA gradients of the first batch on the Go side and, with torchOK, on the
// PyTorch side, and fails unless they agree within -max-loss-diff and -max-grad-diff: no timing without it.
func (b *bench) crossCheck(ctx context.Context, torchOK bool) error {
	o := b.o
	var goCheck, torchCheck procResult
	if err := b.goWorker(ctx, "check", 0, 0, "", &goCheck); err != nil {
		return fmt.Errorf("go check: %w", err)
	}
	b.rep.Check.GoLoss = goCheck.Loss
	b.rep.Kernel = goCheck.Kernel
	if !torchOK {
		return nil
	}
	if err := b.torch(ctx, "check", 0, 0, &torchCheck); err != nil {
		return fmt.Errorf("torch check: %w", err)
	}
	if err := b.checkCore(torchCheck.Blas); err != nil {
		return err
	}
	b.rep.Check.TorchLoss = torchCheck.Loss
	b.rep.Check.GradRelDiff = torchCheck.GradRelDiff
	b.rep.Torch = torchCheck.Blas
	rel := math.Abs(goCheck.Loss-torchCheck.Loss) / math.Abs(torchCheck.Loss)
	b.logf("cross-check: loss go %.6f torch %.6f (relative difference %.1e), LoRA gradient relative difference %.1e",
		goCheck.Loss, torchCheck.Loss, rel, torchCheck.GradRelDiff)
	if !(rel <= o.maxLossDiff) || !(torchCheck.GradRelDiff <= o.maxGradRelDiff) {
		return fmt.Errorf("cross-check failed: the two sides do not compute the same model (loss %.6f vs %.6f, gradient difference %.1e)",
			goCheck.Loss, torchCheck.Loss, torchCheck.GradRelDiff)
	}
	b.rep.Check.Passed = true
	return nil
}

// ollamaSide creates the benchmark model on the -ollama server and loads it with an untimed request. It returns
// nil, with a note, when there is no server or it cannot take the model; the caller closes what it returns.
func (b *bench) ollamaSide(ctx context.Context) (*ollamaBench, error) {
	o := b.o
	if o.noOllama {
		return nil, nil
	}
	if o.ollamaHost == "" {
		b.rep.Notes = append(b.rep.Notes, "Ollama side skipped: no -ollama host and no OLLAMA_HOST")
		return nil, nil
	}
	ob, err := newOllamaBench(ctx, o.ollamaHost, b.dir, o.threads, o.cfg.SeqMax+16)
	if err != nil {
		b.rep.Notes = append(b.rep.Notes, fmt.Sprintf("Ollama side skipped: %v", err))
		return nil, nil
	}
	b.rep.OllamaHost = o.ollamaHost
	// The first request loads the model; it is not timed.
	if _, _, err := ob.promptEval(ctx, "warm up"); err != nil {
		if cerr := ob.close(context.WithoutCancel(ctx)); cerr != nil {
			b.logf("deleting the Ollama model: %v", cerr)
		}
		return nil, err
	}
	return ob, nil
}

// round measures round r: training on both sides, scoring on every side (Ollama's when ob is not nil) and,
// unless -no-sgemm, the matrix products.
func (b *bench) round(ctx context.Context, r int, torchOK bool, ob *ollamaBench) (roundResult, error) {
	round := roundResult{Load: loadAvg()}
	if err := b.train(ctx, r, torchOK, &round); err != nil {
		return round, err
	}
	if err := b.score(ctx, r, torchOK, ob, &round); err != nil {
		return round, err
	}
	if !b.o.noSgemm {
		if err := b.sgemm(ctx, torchOK, &round); err != nil {
			return round, err
		}
	}
	return round, nil
}

// train times the training steps of round r on the Go side and, with torchOK, the PyTorch side.
func (b *bench) train(ctx context.Context, r int, torchOK bool, round *roundResult) error {
	o := b.o
	prof := ""
	if r == 0 {
		prof = o.cpuProfile
	}
	// Alternate which side goes first, so that a drift in the machine's load favours neither.
	sides := []func() error{
		func() error {
			var p procResult
			if err := b.goWorker(ctx, "train", o.steps, o.warmup, prof, &p); err != nil {
				return fmt.Errorf("go train: %w", err)
			}
			round.GoTrain, round.GoTrainRSS = p.TokensPerS, p.PeakRSSMiB
			return nil
		},
	}
	if torchOK {
		sides = append(sides, func() error {
			var p procResult
			if err := b.torch(ctx, "train", o.steps, o.warmup, &p); err != nil {
				return fmt.Errorf("torch train: %w", err)
			}
			round.TorchTrain, round.TorchTrainRSS = p.TokensPerS, p.PeakRSSMiB
			return nil
		})
	}
	if r%2 == 1 {
		sides[0], sides[len(sides)-1] = sides[len(sides)-1], sides[0]
	}
	for _, f := range sides {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

// score times the forward scoring of round r's own sequences, so that no side (Ollama's prompt cache above all)
// sees a sequence twice.
func (b *bench) score(ctx context.Context, r int, torchOK bool, ob *ollamaBench, round *roundResult) error {
	o := b.o
	perRound := o.scorePerRound + o.warmup
	seqs := o.cfg.ScoreSeqs[r*perRound : (r+1)*perRound]
	if err := b.writeScoreSeqs(seqs); err != nil {
		return err
	}
	var p procResult
	if err := b.goWorker(ctx, "score", 0, o.warmup, "", &p); err != nil {
		return fmt.Errorf("go score: %w", err)
	}
	round.GoScore, round.GoScoreRSS = p.TokensPerS, p.PeakRSSMiB
	if torchOK {
		var p procResult
		if err := b.torch(ctx, "score", 0, o.warmup, &p); err != nil {
			return fmt.Errorf("torch score: %w", err)
		}
		round.TorchScore, round.TorchScoreRSS = p.TokensPerS, p.PeakRSSMiB
	}
	if ob == nil {
		return nil
	}
	for i, s := range seqs {
		n, tps, err := ob.promptEval(ctx, b.tok.Decode(s))
		if err != nil {
			return err
		}
		if n < len(s)/2 {
			return fmt.Errorf("ollama evaluated %d of %d prompt tokens: a cached prompt", n, len(s))
		}
		if i >= o.warmup {
			round.OllamaScore = append(round.OllamaScore, tps)
		}
	}
	return nil
}

// sgemm times the matrix products on the Go side and, with torchOK, OpenBLAS's, in the same round so that their
// ratio sees the same load.
func (b *bench) sgemm(ctx context.Context, torchOK bool, round *roundResult) error {
	o := b.o
	var p procResult
	if err := b.goWorker(ctx, "sgemm", o.sgemmReps, 0, "", &p); err != nil {
		return fmt.Errorf("go sgemm: %w", err)
	}
	round.GoSgemm = p.Sgemm
	if !torchOK {
		return nil
	}
	var q procResult
	if err := b.torch(ctx, "sgemm", o.sgemmReps, 0, &q); err != nil {
		return fmt.Errorf("openblas sgemm: %w", err)
	}
	if core, _ := q.Blas["openblas_core"].(string); o.openblasCore != "detect" && !strings.EqualFold(core, o.openblasCore) {
		return fmt.Errorf("openblas sgemm ran OpenBLAS's %q kernels, not %s", core, o.openblasCore)
	}
	round.BlasSgemm = q.Sgemm
	return nil
}

// procResult is the JSON a worker or torchref.py prints, with the process's peak memory added.
type procResult struct {
	workerResult
	GradRelDiff float64        `json:"grad_rel_diff"`
	Blas        map[string]any `json:"blas"`
	HWMMiB      float64        `json:"vm_hwm_mib"` // torchref.py's own VmHWM
	PeakRSSMiB  float64        `json:"-"`
}

// goWorker runs this command as a Go worker in a child process.
func (b *bench) goWorker(ctx context.Context, mode string, steps, warmup int, prof string, out *procResult) error {
	args := []string{"-worker", mode, "-dir", b.dir, "-steps", fmt.Sprint(max(steps, 1)), "-warmup", fmt.Sprint(warmup),
		"-threads", fmt.Sprint(b.o.threads)}
	if prof != "" {
		args = append(args, "-cpuprofile", prof)
	}
	cmd := exec.CommandContext(ctx, b.self, args...)
	cmd.Env = append(os.Environ(), workerEnv+"=1")
	return b.child(ctx, cmd, out)
}

// workerEnv marks a child process as a Go worker, so that a test binary standing in for this command (see
// TestMain) knows to run main.
const workerEnv = "FASTSLOW_BENCH_WORKER"

// torch runs torchref.py in a child process, with the thread settings that keep OpenMP and OpenBLAS from
// spinning against each other.
func (b *bench) torch(ctx context.Context, mode string, steps, warmup int, out *procResult) error {
	cmd := exec.CommandContext(ctx, b.o.python, b.script, mode, "--dir", b.dir, "--steps", fmt.Sprint(max(steps, 1)),
		"--warmup", fmt.Sprint(warmup), "--threads", fmt.Sprint(b.o.threads))
	t := fmt.Sprint(b.o.threads)
	cmd.Env = append(os.Environ(), "OMP_WAIT_POLICY=PASSIVE", "OMP_NUM_THREADS="+t, "OPENBLAS_NUM_THREADS="+t)
	if c := b.o.openblasCore; c != "" && c != "detect" {
		cmd.Env = append(cmd.Env, "OPENBLAS_CORETYPE="+c)
	}
	return b.child(ctx, cmd, out)
}

// child runs cmd, decodes the JSON line it prints and records its peak resident memory.
func (b *bench) child(ctx context.Context, cmd *exec.Cmd, out *procResult) error {
	rss, err := runJSON(cmd, out)
	out.PeakRSSMiB = rss
	return err
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// writeScoreSeqs rewrites the configuration with the sequences the next scoring runs time.
func (b *bench) writeScoreSeqs(seqs [][]int32) error {
	c := b.o.cfg
	c.ScoreSeqs = seqs
	js, err := json.Marshal(&c)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(b.dir, configFile), js, 0o644)
}
