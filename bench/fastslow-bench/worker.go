package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/train"
)

// The Go side runs in a child process of its own, like the Python side, so that each reports the peak memory
// of exactly its own work.

// workerResult is what a worker prints: the same fields torchref.py prints, where they apply.
type workerResult struct {
	Mode       string        `json:"mode"`
	TokensPerS []float64     `json:"tokens_per_s,omitempty"`
	Loss       float64       `json:"loss,omitempty"`
	Sgemm      []sgemmResult `json:"sgemm,omitempty"`
	Kernel     string        `json:"kernel,omitempty"`
}

// sgemmResult is the speed of one product on a number of threads, one GFLOPS figure per repetition.
type sgemmResult struct {
	Name    string    `json:"name"`
	Threads int       `json:"threads"`
	GFLOPS  []float64 `json:"gflops"`
}

// runWorker runs one measurement mode on the benchmark directory and writes its JSON result to w.
func runWorker(ctx context.Context, w io.Writer, mode, dir string, steps, warmup int, cpuProfile string) error {
	if mode == "sgemm" {
		// Only the configuration: the real-shape mode times products of models it never builds here.
		b, err := os.ReadFile(filepath.Join(dir, configFile))
		if err != nil {
			return err
		}
		var c struct {
			Shapes  []sgemmShape `json:"sgemm_shapes"`
			Threads []int        `json:"sgemm_threads"`
		}
		if err := json.Unmarshal(b, &c); err != nil {
			return fmt.Errorf("%s: %w", configFile, err)
		}
		res := workerResult{Mode: mode, Kernel: llama.GemmKernel()}
		if res.Sgemm, err = timeSgemm(c.Shapes, c.Threads, steps); err != nil {
			return err
		}
		return json.NewEncoder(w).Encode(res)
	}
	c, m, a, batch, err := loadBench(dir)
	if err != nil {
		return err
	}
	stop, err := startCPUProfile(cpuProfile)
	if err != nil {
		return err
	}
	defer stop()
	seqs := make([]llama.Sequence, len(batch))
	for i, s := range batch {
		seqs[i] = llama.Sequence{Tokens: s, Start: 1}
	}
	res := workerResult{Mode: mode, Kernel: llama.GemmKernel()}
	switch mode {
	case "check":
		loss, n, err := m.LossAndGrad(ctx, seqs, a, false)
		if err != nil {
			return err
		}
		var g []float32
		for _, p := range a.Params() {
			for _, v := range p.Grad {
				g = append(g, v/float32(n))
			}
		}
		if err := writeLE(filepath.Join(dir, goGradsFile), g); err != nil {
			return err
		}
		res.Loss = loss / float64(n)
	case "train":
		opt, err := train.NewAdamW(a.Params(), train.AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8})
		if err != nil {
			return err
		}
		for i := range warmup + steps {
			t0 := time.Now()
			a.ZeroGrad()
			loss, n, err := m.LossAndGrad(ctx, seqs, a, false)
			if err != nil {
				return err
			}
			if err := opt.Step(1e-4, 1/float64(n)); err != nil {
				return err
			}
			dt := time.Since(t0)
			if i >= warmup {
				res.TokensPerS = append(res.TokensPerS, float64(c.Batch*c.Seq)/dt.Seconds())
			}
			res.Loss = loss / float64(n)
		}
	case "score":
		for i, s := range c.ScoreSeqs {
			t0 := time.Now()
			if _, _, err := m.LogLikelihood(s[:1], s[1:], nil); err != nil {
				return err
			}
			if i >= warmup {
				res.TokensPerS = append(res.TokensPerS, float64(len(s))/time.Since(t0).Seconds())
			}
		}
	default:
		return fmt.Errorf("unknown worker mode %q", mode)
	}
	return json.NewEncoder(w).Encode(res)
}

// timeSgemm times llama.Gemm at each shape, reps times after one warm-up call, on each of the thread counts
// (one thread and all, when threads is empty).
func timeSgemm(shapes []sgemmShape, threads []int, reps int) ([]sgemmResult, error) {
	procs := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(procs)
	if len(threads) == 0 {
		threads = []int{1}
		if procs > 1 {
			threads = append(threads, procs)
		}
	}
	var out []sgemmResult
	for _, threads := range threads {
		runtime.GOMAXPROCS(threads)
		for _, s := range shapes {
			a := make([]float32, s.M*s.K)
			b := make([]float32, s.K*s.N)
			c := make([]float32, s.M*s.N)
			for i := range a {
				a[i] = float32(i%13) * 0.01
			}
			for i := range b {
				b[i] = float32(i%11) * 0.01
			}
			lda, ldb := s.K, s.N
			if s.TA {
				lda = s.M
			}
			if s.TB {
				ldb = s.K
			}
			r := sgemmResult{Name: s.Name, Threads: threads}
			for i := range reps + 1 {
				t0 := time.Now()
				if err := llama.Gemm(s.TA, s.TB, s.M, s.N, s.K, 1, a, lda, b, ldb, false, c, s.N); err != nil {
					return nil, err
				}
				if i > 0 {
					r.GFLOPS = append(r.GFLOPS, 2*float64(s.M*s.N*s.K)/time.Since(t0).Seconds()/1e9)
				}
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// startCPUProfile writes a CPU profile of this process to path (none when path is empty) until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile %s: %w", path, err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
