package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// The real-shape benchmark (issue 15): random-weight models at the shapes users adapt, quantized by Ollama,
// trained through the library's own training path, each measurement in a child process of its own.
//
//	go run ./bench/fastslow-bench real [-models qwen3-0.6b,llama3.2-1b,gemma3-1b,qwen3-4b] [-rounds 3] ...

// realOptions are the real-shape command's settings.
type realOptions struct {
	models, forward, torchModels []string
	flopModel                    string
	cache, ollamaBin, python     string
	openblasCore, jsonOut        string
	port, threads                int
	rounds, steps, warmup        int
	batch, seq, rank             int
	alpha                        float64
	roundExamples, roundSteps    int
	scoreLen, scoreSeqs          int
	sgemmReps                    int
	noTorch, noOllama, noRound   bool
	noTrain                      bool // only the forward (and FLOP-model) sides
	worker                       realWorkerArgs
}

func defaultCache() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "fastslow", "bench-real")
	}
	return filepath.Join(os.TempDir(), "fastslow-bench-real")
}

func defaultOllamaBin() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "fastslow", "ollama-v0.17.4-native", "bin", "ollama")
	}
	return "ollama"
}

func parseRealFlags(args []string, stderr io.Writer) (*realOptions, error) {
	o := &realOptions{}
	fs := flag.NewFlagSet("fastslow-bench real", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var models, forward, torchModels string
	var names []string
	for _, s := range realShapes {
		names = append(names, s.Name)
	}
	fs.StringVar(&models, "models", strings.Join(names, ","), "model shapes to measure, comma-separated")
	fs.StringVar(&forward, "forward", "llama3.2-1b", "shapes whose forward scoring is compared with Ollama's prompt evaluation, on Q8_0 and Q4_K_M")
	fs.StringVar(&torchModels, "torch", "llama3.2-1b", "shapes (llama architecture) trained by the PyTorch reference too, in F32")
	fs.StringVar(&o.flopModel, "flops", "llama3.2-1b", "shape whose FLOP count and matrix kernels predict its training throughput")
	fs.StringVar(&o.cache, "cache", defaultCache(), "directory keeping the generated and quantized GGUFs between runs")
	fs.StringVar(&o.ollamaBin, "ollama-bin", defaultOllamaBin(), "Ollama binary (v0.17.4; built with -march=native for the speed comparison)")
	fs.IntVar(&o.port, "port", 0, "port of the Ollama server the command starts on 127.0.0.1 (0: a free one)")
	fs.StringVar(&o.python, "python", "python3", "Python interpreter with torch and numpy")
	fs.StringVar(&o.openblasCore, "openblas-core", "auto", "OPENBLAS_CORETYPE of the PyTorch and OpenBLAS sides (see the default mode)")
	fs.IntVar(&o.threads, "threads", runtime.NumCPU(), "threads for every side")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds; the sides alternate within each, each in a fresh process")
	fs.IntVar(&o.steps, "steps", 2, "timed training steps per round and side")
	fs.IntVar(&o.warmup, "warmup", 1, "untimed steps (and scoring texts) first")
	fs.IntVar(&o.batch, "batch", 4, "training sequences per step")
	fs.IntVar(&o.seq, "seq", 256, "tokens per training sequence")
	fs.IntVar(&o.rank, "rank", 16, "LoRA rank, on all seven projections")
	fs.Float64Var(&o.alpha, "alpha", 32, "LoRA alpha")
	fs.IntVar(&o.roundExamples, "round-examples", 100, "examples of the learning round ('fastslow train' on a JSONL file)")
	fs.IntVar(&o.roundSteps, "round-steps", 25, "optimizer steps of the learning round (25 × batch 4: one pass over 100 examples)")
	fs.BoolVar(&o.noRound, "no-round", false, "skip the learning round")
	fs.BoolVar(&o.noTrain, "no-train", false, "skip the training sides (e.g. to measure only forward scoring)")
	fs.IntVar(&o.scoreLen, "score-len", 256, "approximate tokens per scoring text")
	fs.IntVar(&o.scoreSeqs, "score-seqs", 2, "timed scoring texts per round and side")
	fs.IntVar(&o.sgemmReps, "sgemm-reps", 2, "timed calls per matrix product of the FLOP model, per round and side")
	fs.BoolVar(&o.noTorch, "no-torch", false, "skip the PyTorch and OpenBLAS sides")
	fs.BoolVar(&o.noOllama, "no-ollama", false, "skip the Ollama prompt evaluation (quantizing still needs Ollama)")
	fs.StringVar(&o.jsonOut, "json", "", "also write every measurement to this JSON file")
	fs.StringVar(&o.worker.cpuProfile, "cpuprofile", "", "write a CPU profile of the first shape's first training worker here")
	fs.BoolVar(&o.worker.recompute, "recompute", false, "fastslow training (workers and learning round) recomputes each block in the backward (less memory)")
	fs.IntVar(&o.worker.memLimitMiB, "mem-limit-mib", 0, "fastslow training recomputes blocks when a step's memory estimate exceeds this many MiB (0: no limit)")
	w := &o.worker
	fs.StringVar(&w.mode, "worker", "", "internal: run one measurement (gen, train, score)")
	fs.StringVar(&w.model, "model", "", "internal: the worker's shape")
	fs.StringVar(&w.path, "path", "", "internal: the worker's GGUF")
	fs.StringVar(&w.texts, "texts", "", "internal: the scoring worker's texts (JSON)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	w.batch, w.seq, w.rank, w.alpha, w.steps, w.warmup = o.batch, o.seq, o.rank, o.alpha, o.steps, o.warmup
	split := func(s string) []string {
		var out []string
		for _, f := range strings.Split(s, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
		return out
	}
	o.models, o.forward, o.torchModels = split(models), split(forward), split(torchModels)
	for _, n := range slices.Concat(o.models, o.forward, o.torchModels) {
		if _, err := findShape(n); err != nil {
			return nil, err
		}
	}
	switch {
	case o.rounds < 1 || o.steps < 1 || o.warmup < 0:
		return nil, errors.New("-rounds and -steps must be positive, -warmup not negative")
	case o.batch < 1 || o.seq < 2 || o.rank < 1 || o.threads < 1 || o.sgemmReps < 1:
		return nil, errors.New("-batch, -rank, -threads and -sgemm-reps must be positive, -seq at least 2")
	case o.worker.memLimitMiB < 0:
		return nil, errors.New("-mem-limit-mib must not be negative")
	case o.roundExamples < 1 || o.roundSteps < 1 || o.scoreLen < 8 || o.scoreSeqs < 1:
		return nil, errors.New("-round-examples, -round-steps and -score-seqs must be positive, -score-len at least 8")
	}
	var err error
	if o.openblasCore, err = resolveCore(o.openblasCore); err != nil {
		return nil, err
	}
	return o, nil
}

// runReal runs the real-shape command (or one of its workers).
func runReal(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseRealFlags(args, stderr)
	if err != nil {
		return err
	}
	if o.worker.mode != "" {
		runtime.GOMAXPROCS(o.threads)
		return runRealWorker(ctx, stdout, o.worker)
	}
	rb := &realBench{o: o, log: stderr, rep: realReport{Started: time.Now().UTC().Format(time.RFC3339),
		CPU: cpuModel(), Threads: o.threads, GoVersion: runtime.Version(), Batch: o.batch, Seq: o.seq,
		Rank: o.rank, Alpha: o.alpha, Rounds: o.rounds, Recompute: o.worker.recompute,
		MemLimitMiB: o.worker.memLimitMiB}}
	if rb.self, err = os.Executable(); err != nil {
		return err
	}
	if err := os.MkdirAll(o.cache, 0o755); err != nil {
		return err
	}
	if rb.tmp, err = os.MkdirTemp("", "fastslow-bench-real-"); err != nil {
		return err
	}
	defer os.RemoveAll(rb.tmp)
	defer rb.stopOllama()
	if err := rb.measure(ctx); err != nil {
		return err
	}
	rb.rep.ParentHWMMiB = vmHWM()
	return writeReport(stdout, &rb.rep, o.jsonOut)
}

// realBench is one run of the real-shape benchmark.
type realBench struct {
	o        *realOptions
	self     string // this executable, for the workers
	tmp      string // scratch directory, removed at the end
	fastslow string // the fastslow command, built from this repository
	log      io.Writer
	rep      realReport
	ollama   *ollamaServer
	torch    *bench // runs torchref.py and the Go sgemm worker (the default mode's machinery)
	profiled bool   // the -cpuprofile worker has run
}

func (rb *realBench) logf(format string, args ...any) {
	fmt.Fprintf(rb.log, "fastslow-bench real: "+format+"\n", args...)
}

// measure prepares every model and runs the rounds.
func (rb *realBench) measure(ctx context.Context) error {
	o := rb.o
	srv, err := startOllama(ctx, o.ollamaBin, o.port, filepath.Join(rb.tmp, "ollama"))
	if err != nil {
		return fmt.Errorf("ollama (quantizes the models and is the forward reference): %w", err)
	}
	rb.ollama = srv
	rb.rep.Ollama = srv.describe()
	if !o.noRound {
		if err := rb.buildFastslow(ctx); err != nil {
			return err
		}
	}
	if !o.noTorch {
		if err := rb.setupTorch(ctx); err != nil {
			rb.rep.Notes = append(rb.rep.Notes, fmt.Sprintf("PyTorch and OpenBLAS sides skipped: %v", err))
			rb.torch = nil
		}
	}
	for _, name := range o.models {
		if err := ctx.Err(); err != nil {
			return err
		}
		s, _ := findShape(name)
		mr, err := rb.measureModel(ctx, s)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			// A shape that does not fit (a worker killed for memory, above all) must not lose the others.
			rb.logf("%s: %v", name, err)
			rb.rep.Notes = append(rb.rep.Notes, fmt.Sprintf("%s not measured: %s", name, tail(err.Error(), 600)))
			continue
		}
		rb.rep.Models = append(rb.rep.Models, *mr)
	}
	return nil
}

// buildFastslow builds the fastslow command of this repository for the learning round.
func (rb *realBench) buildFastslow(ctx context.Context) error {
	rb.fastslow = filepath.Join(rb.tmp, "fastslow")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", rb.fastslow, "./cmd/fastslow")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/fastslow (run from the repository root): %v\n%s", err, out)
	}
	return nil
}

// setupTorch checks PyTorch and records the BLAS it loads, with the kernels asked for.
func (rb *realBench) setupTorch(ctx context.Context) error {
	o := rb.o
	python, err := findTorch(ctx, o.python)
	if err != nil {
		return err
	}
	b := &bench{o: &options{threads: o.threads, python: python, openblasCore: o.openblasCore}, log: rb.log,
		self: rb.self}
	b.script = filepath.Join(rb.tmp, "torchref.py")
	if err := os.WriteFile(b.script, torchScript, 0o644); err != nil {
		return err
	}
	rb.torch = b
	return nil
}

// ggufPath is where the cache keeps a shape's GGUF of a type ("f16", "q4_k_m", "q8_0").
func (rb *realBench) ggufPath(s realShape, typ string) string {
	return filepath.Join(rb.o.cache, s.Name+"-"+typ+".gguf")
}

// ensureGGUFs writes the F16 GGUF of s if the cache lacks it, and has Ollama quantize it to each of types.
func (rb *realBench) ensureGGUFs(ctx context.Context, s realShape, types []string) error {
	f16 := rb.ggufPath(s, "f16")
	if _, err := os.Stat(f16); err != nil {
		rb.logf("%s: writing the random-weight F16 GGUF (%d parameters) to %s", s.Name, params(s.Config), f16)
		var res realWorkerResult
		if _, err := rb.realWorker(ctx, "gen", s.Name, f16, "", &res); err != nil {
			return err
		}
	}
	for _, typ := range types {
		path := rb.ggufPath(s, typ)
		if _, err := os.Stat(path); err == nil {
			continue
		}
		rb.logf("%s: quantizing to %s with %s", s.Name, typ, rb.ollama.bin)
		if err := rb.ollama.quantize(ctx, f16, typ, path); err != nil {
			return fmt.Errorf("quantize to %s: %w", typ, err)
		}
	}
	return nil
}

// realWorker runs one real-shape worker in a child process and decodes its result.
func (rb *realBench) realWorker(ctx context.Context, mode, model, path, texts string, out *realWorkerResult) (float64, error) {
	o := rb.o
	args := []string{"real", "-worker", mode, "-model", model, "-path", path, "-threads", fmt.Sprint(o.threads),
		"-batch", fmt.Sprint(o.batch), "-seq", fmt.Sprint(o.seq), "-rank", fmt.Sprint(o.rank), "-alpha",
		fmt.Sprint(o.alpha), "-steps", fmt.Sprint(o.steps), "-warmup", fmt.Sprint(o.warmup)}
	if texts != "" {
		args = append(args, "-texts", texts)
	}
	if o.worker.recompute {
		args = append(args, "-recompute")
	}
	if o.worker.memLimitMiB > 0 {
		args = append(args, "-mem-limit-mib", fmt.Sprint(o.worker.memLimitMiB))
	}
	if mode == "train" && o.worker.cpuProfile != "" && !rb.profiled {
		args = append(args, "-cpuprofile", o.worker.cpuProfile)
		rb.profiled = true
	}
	cmd := exec.CommandContext(ctx, rb.self, args...)
	cmd.Env = append(os.Environ(), workerEnv+"=1")
	return runJSON(cmd, out)
}
