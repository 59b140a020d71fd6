package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/train"
)

// realWorkerResult is what a real-shape worker prints.
type realWorkerResult struct {
	Mode       string    `json:"mode"`
	TokensPerS []float64 `json:"tokens_per_s,omitempty"`
	Tokens     []int     `json:"tokens,omitempty"` // scoring: tokens of each text, BOS included
	LoadSec    float64   `json:"load_s,omitempty"`
	Loss       float64   `json:"loss,omitempty"`
	HWMMiB     float64   `json:"vm_hwm_mib"` // the worker's own VmHWM when it finished
	Kernel     string    `json:"kernel,omitempty"`
	Int8       []string  `json:"int8,omitempty"` // scoring: weight types whose products take int8 kernels
}

// realWorkerArgs are the settings a real-shape worker runs with.
type realWorkerArgs struct {
	mode, model, path, texts string
	cpuProfile               string
	recompute                bool // LoRAOptions.Recompute
	memLimitMiB              int  // LoRAOptions.MemLimit, in MiB
	batch, seq, rank         int
	alpha                    float64
	steps, warmup            int
}

// runRealWorker runs one real-shape measurement in this process and prints its JSON result to w:
//
//	gen    writes the F16 GGUF of the shape to path
//	train  loads the GGUF at path with weights.Load and trains a LoRA through weights.FineTuneSequences (the
//	       path of 'fastslow train' and of the slow channel: train.Run on train.LoRAObjective), warmup+steps
//	       optimizer steps on batches of random token sequences, reporting each timed step's tokens/s
//	score  loads the GGUF and computes the log-likelihood of each text of the JSON file texts (tokenized by
//	       the model's tokenizer as Ollama does, BOS first), the first warmup untimed
func runRealWorker(ctx context.Context, w io.Writer, a realWorkerArgs) error {
	s, err := findShape(a.model)
	if err != nil {
		return err
	}
	res := realWorkerResult{Mode: a.mode, Kernel: llama.GemmKernel()}
	stop, err := startCPUProfile(a.cpuProfile) // train and score
	if err != nil {
		return err
	}
	defer stop()
	switch a.mode {
	case "gen":
		if err := writeShapeGGUF(ctx, a.path, s); err != nil {
			return fmt.Errorf("write %s: %w", a.path, err)
		}
	case "train":
		t0 := time.Now()
		m, err := weights.Load(a.path)
		if err != nil {
			return err
		}
		res.LoadSec = time.Since(t0).Seconds()
		if m.Config.Dim != s.Config.Dim || m.Config.Layers != s.Config.Layers || m.Config.Vocab != s.Config.Vocab {
			return fmt.Errorf("%s is not a %s model", a.path, a.model)
		}
		rng := rand.New(rand.NewPCG(7, 8))
		total := a.warmup + a.steps
		seqs := make([]llama.Sequence, total*a.batch)
		for i := range seqs {
			toks := make([]int32, a.seq)
			for j := range toks {
				toks[j] = int32(rng.IntN(min(m.Config.Vocab, 128000))) // ordinary tokens, no padding
			}
			seqs[i] = llama.Sequence{Tokens: toks, Start: 1}
		}
		opt := weights.LoRAOptions{
			LoRA: llama.LoRAConfig{Rank: a.rank, Alpha: float32(a.alpha), Targets: weights.DefaultLoRA.Targets},
			Train: train.Options{Steps: total, BatchSize: a.batch, LR: 1e-4, Decay: train.DecayConstant,
				ClipNorm: 1, Seed: 1},
			Seed:      1,
			Recompute: a.recompute,
			MemLimit:  int64(a.memLimitMiB) << 20,
		}
		_, tr, err := weights.FineTuneSequences(ctx, m, seqs, opt, func(p train.Progress) {
			if p.Step > a.warmup {
				res.TokensPerS = append(res.TokensPerS, p.TokensPerSec)
			}
		})
		if err != nil {
			return err
		}
		res.Loss = tr.FinalLoss()
	case "score":
		b, err := os.ReadFile(a.texts)
		if err != nil {
			return err
		}
		var texts []string
		if err := json.Unmarshal(b, &texts); err != nil {
			return fmt.Errorf("%s: %w", a.texts, err)
		}
		t0 := time.Now()
		m, err := weights.Load(a.path)
		if err != nil {
			return err
		}
		res.LoadSec = time.Since(t0).Seconds()
		if m.Precision.Int8 {
			for _, t := range llama.Int8Types() {
				res.Int8 = append(res.Int8, t.String())
			}
		}
		for i, text := range texts {
			ids := m.Tokenizer.Encode(text, true)
			if len(ids) < 2 {
				return fmt.Errorf("text %d: %d tokens", i, len(ids))
			}
			t0 := time.Now()
			if _, _, err := m.LogLikelihood(ids[:1], ids[1:], nil); err != nil {
				return err
			}
			if i >= a.warmup {
				res.TokensPerS = append(res.TokensPerS, float64(len(ids))/time.Since(t0).Seconds())
				res.Tokens = append(res.Tokens, len(ids))
			}
		}
	default:
		return fmt.Errorf("unknown real worker mode %q", a.mode)
	}
	res.HWMMiB = vmHWM()
	return json.NewEncoder(w).Encode(res)
}

// vmHWM returns this process's peak resident memory (VmHWM of /proc/self/status) in MiB, or 0.
func vmHWM() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			if err == nil {
				return kb / 1024
			}
		}
	}
	return 0
}
