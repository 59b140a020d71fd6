package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/fastslow/fastslow/weights/llama"
)

// realModelResult is everything measured on one shape.
type realModelResult struct {
	Shape    realShape          `json:"shape"`
	Params   int64              `json:"params"`
	FileMiB  map[string]float64 `json:"file_mib"` // GGUF sizes by type
	Rounds   []realRound        `json:"rounds"`
	Learning *learningRound     `json:"learning_round,omitempty"`
	Flops    *flopModel         `json:"flops,omitempty"`
}

// realRound is one round on one shape: the sides alternate, each in a fresh process.
type realRound struct {
	Load          float64              `json:"load"` // /proc/loadavg, one minute, at the round's start
	GoTrain       []float64            `json:"go_train"`
	GoTrainHWM    float64              `json:"go_train_vm_hwm_mib"`
	GoLoadSec     float64              `json:"go_load_s"`
	TorchTrain    []float64            `json:"torch_train,omitempty"`
	TorchTrainHWM float64              `json:"torch_train_vm_hwm_mib,omitempty"`
	Forward       map[string]*fwdRound `json:"forward,omitempty"` // by base type
	GoSgemm       []sgemmResult        `json:"go_sgemm,omitempty"`
	BlasSgemm     []sgemmResult        `json:"openblas_sgemm,omitempty"`
}

// fwdRound is forward scoring on one base type: fastslow's engine and Ollama's prompt evaluation of the
// same texts.
type fwdRound struct {
	Go           []float64 `json:"go"`
	GoTokens     []int     `json:"go_tokens"`
	GoHWM        float64   `json:"go_vm_hwm_mib"`
	GoInt8       []string  `json:"go_int8,omitempty"` // weight types multiplied by int8 kernels (llama.Int8Types)
	Ollama       []float64 `json:"ollama,omitempty"`
	OllamaTokens []int     `json:"ollama_tokens,omitempty"`
}

// learningRound is one 'fastslow train' run over the learning round's examples.
type learningRound struct {
	Examples    int     `json:"examples"`
	Steps       int     `json:"steps"`
	WallSec     float64 `json:"wall_s"`
	MaxRSSMiB   float64 `json:"max_rss_mib"` // the child's ru_maxrss
	TokensPerS  float64 `json:"tokens_per_s"`
	Tokens      int64   `json:"trained_tokens"`
	FinalLoss   float64 `json:"final_loss"`
	Load        float64 `json:"load"`
	CommandLine string  `json:"command"`
}

// measureModel measures one shape: its rounds, then its learning round.
func (rb *realBench) measureModel(ctx context.Context, s realShape) (*realModelResult, error) {
	m, err := rb.prepareModel(ctx, s)
	if err != nil {
		return nil, err
	}
	for r := range rb.o.rounds {
		round, err := m.round(ctx, r)
		if err != nil {
			return nil, err
		}
		m.mr.Rounds = append(m.mr.Rounds, round)
	}
	if m.flops {
		m.mr.Flops.fill(m.mr.Rounds)
	}
	if err := m.finish(ctx); err != nil {
		return nil, err
	}
	return m.mr, nil
}

// modelRun is the measurement of one shape under way: what it measures and where its files are.
type modelRun struct {
	rb                *realBench
	s                 realShape
	mr                *realModelResult
	fwd, torch, flops bool     // forward scoring against Ollama, the PyTorch side, the FLOP model
	types             []string // the quantized GGUFs: q4_k_m, and q8_0 for forward scoring
	dir, torchDir     string   // the shape's scratch directory, and PyTorch's config in it
	text              string   // the corpus the scoring texts and the learning round come from
	q4                string   // the Q4_K_M GGUF every training side starts from
}

// prepareModel writes (or finds in the cache) the shape's GGUFs and the configurations of its sides, and
// creates its models on Ollama for forward scoring.
func (rb *realBench) prepareModel(ctx context.Context, s realShape) (*modelRun, error) {
	o := rb.o
	m := &modelRun{rb: rb, s: s, mr: &realModelResult{Shape: s, Params: params(s.Config), FileMiB: map[string]float64{}},
		fwd:   slices.Contains(o.forward, s.Name) && !o.noOllama,
		torch: slices.Contains(o.torchModels, s.Name) && rb.torch != nil,
		flops: s.Name == o.flopModel,
		types: []string{"q4_k_m"},
		dir:   filepath.Join(rb.tmp, s.Name),
		q4:    rb.ggufPath(s, "q4_k_m"),
	}
	if m.fwd {
		m.types = append(m.types, "q8_0")
	}
	if err := rb.ensureGGUFs(ctx, s, m.types); err != nil {
		return nil, err
	}
	for _, typ := range append([]string{"f16"}, m.types...) {
		if st, err := os.Stat(rb.ggufPath(s, typ)); err == nil {
			m.mr.FileMiB[typ] = float64(st.Size()) / (1 << 20)
		}
	}
	if err := os.MkdirAll(m.dir, 0o755); err != nil {
		return nil, err
	}
	if m.torch {
		var err error
		if m.torchDir, err = rb.writeTorchConfig(s, m.dir); err != nil {
			return nil, err
		}
	}
	if m.flops {
		m.mr.Flops = newFlopModel(s.Config, o.batch, o.seq, o.rank)
		if err := writeSgemmConfig(filepath.Join(m.dir, "sgemm"), m.mr.Flops.shapes(), o.threads); err != nil {
			return nil, err
		}
	}
	if m.fwd {
		for _, typ := range m.types {
			if err := rb.ollama.model(ctx, ollamaName(s, typ), rb.ggufPath(s, typ)); err != nil {
				return nil, fmt.Errorf("create the %s model on Ollama: %w", typ, err)
			}
		}
	}
	var err error
	if m.text, err = corpus(); err != nil {
		return nil, err
	}
	return m, nil
}

// round runs round r: every side once, the order reversed in odd rounds so that a drift in the machine's
// load favours none.
func (m *modelRun) round(ctx context.Context, r int) (realRound, error) {
	rb := m.rb
	round := realRound{Load: loadAvg()}
	rb.logf("%s: round %d of %d (load %.1f)", m.s.Name, r+1, rb.o.rounds, round.Load)
	var sides []func() error
	if !rb.o.noTrain {
		sides = m.trainSides(ctx, &round)
	}
	if m.fwd {
		fwd, err := m.forwardSides(ctx, r, &round)
		if err != nil {
			return round, err
		}
		sides = append(sides, fwd...)
	}
	if m.flops {
		sides = append(sides, m.sgemmSides(ctx, &round)...)
	}
	if r%2 == 1 {
		slices.Reverse(sides)
	}
	for _, f := range sides {
		if err := f(); err != nil {
			return round, err
		}
	}
	return round, nil
}

// trainSides are LoRA training through the library (and through PyTorch, when it runs this shape).
func (m *modelRun) trainSides(ctx context.Context, round *realRound) []func() error {
	rb, o, s := m.rb, m.rb.o, m.s
	sides := []func() error{func() error {
		var res realWorkerResult
		if _, err := rb.realWorker(ctx, "train", s.Name, m.q4, "", &res); err != nil {
			return fmt.Errorf("go train: %w", err)
		}
		round.GoTrain, round.GoTrainHWM, round.GoLoadSec = res.TokensPerS, res.HWMMiB, res.LoadSec
		rb.logf("%s: fastslow training %v tokens/s, VmHWM %.0f MiB, load %.1f s (load avg %.1f)", s.Name,
			res.TokensPerS, res.HWMMiB, res.LoadSec, loadAvg())
		return nil
	}}
	if m.torch {
		sides = append(sides, func() error {
			var p procResult
			if err := rb.torchIn(ctx, m.torchDir, "train", o.steps, o.warmup, &p); err != nil {
				return fmt.Errorf("torch train: %w", err)
			}
			round.TorchTrain, round.TorchTrainHWM = p.TokensPerS, p.HWMMiB
			rb.logf("%s: PyTorch training %v tokens/s, VmHWM %.0f MiB (load avg %.1f)", s.Name, p.TokensPerS,
				p.HWMMiB, loadAvg())
			return nil
		})
	}
	return sides
}

// forwardSides are forward scoring of round r's own texts by the engine and by Ollama's prompt evaluation,
// on each quantized type.
func (m *modelRun) forwardSides(ctx context.Context, r int, round *realRound) ([]func() error, error) {
	rb, o, s := m.rb, m.rb.o, m.s
	round.Forward = map[string]*fwdRound{}
	texts := scoreTexts(m.text, o.scoreLen, o.warmup+o.scoreSeqs, r)
	tf := filepath.Join(m.dir, "texts.json")
	if err := writeJSON(tf, texts); err != nil {
		return nil, err
	}
	var sides []func() error
	for _, typ := range m.types {
		fr := &fwdRound{}
		round.Forward[typ] = fr
		sides = append(sides, func() error {
			var res realWorkerResult
			if _, err := rb.realWorker(ctx, "score", s.Name, rb.ggufPath(s, typ), tf, &res); err != nil {
				return fmt.Errorf("go score %s: %w", typ, err)
			}
			fr.Go, fr.GoTokens, fr.GoHWM, fr.GoInt8 = res.TokensPerS, res.Tokens, res.HWMMiB, res.Int8
			rb.logf("%s %s: fastslow scoring %v tokens/s over %v tokens, int8 kernels for %v (load avg %.1f)",
				s.Name, typ, res.TokensPerS, res.Tokens, res.Int8, loadAvg())
			return nil
		}, func() error {
			for i, t := range texts {
				n, tps, err := rb.ollama.promptEval(ctx, ollamaName(s, typ), t, o.threads, 2*o.scoreLen+64)
				if err != nil {
					return fmt.Errorf("ollama %s: %w", typ, err)
				}
				if i >= o.warmup {
					fr.Ollama, fr.OllamaTokens = append(fr.Ollama, tps), append(fr.OllamaTokens, n)
				}
			}
			rb.logf("%s %s: Ollama prompt evaluation %v tokens/s over %v tokens (load avg %.1f)", s.Name, typ,
				fr.Ollama, fr.OllamaTokens, loadAvg())
			return nil
		})
	}
	return sides, nil
}

// sgemmSides time the FLOP model's matrix products, the engine's and (with PyTorch) OpenBLAS's.
func (m *modelRun) sgemmSides(ctx context.Context, round *realRound) []func() error {
	rb, o := m.rb, m.rb.o
	sgemmDir := filepath.Join(m.dir, "sgemm")
	sides := []func() error{func() error {
		var p procResult
		b := rb.goSgemmBench(sgemmDir)
		if err := b.goWorker(ctx, "sgemm", o.sgemmReps, 0, "", &p); err != nil {
			return fmt.Errorf("go sgemm: %w", err)
		}
		round.GoSgemm = p.Sgemm
		return nil
	}}
	if rb.torch != nil {
		sides = append(sides, func() error {
			var p procResult
			if err := rb.torchIn(ctx, sgemmDir, "sgemm", o.sgemmReps, 0, &p); err != nil {
				return fmt.Errorf("openblas sgemm: %w", err)
			}
			round.BlasSgemm = p.Sgemm
			return nil
		})
	}
	return sides
}

// finish runs the learning round and deletes the shape's models from Ollama.
func (m *modelRun) finish(ctx context.Context) error {
	rb, s := m.rb, m.s
	if !rb.o.noRound {
		lr, err := rb.learningRound(ctx, s, m.q4, m.text, m.dir)
		if err != nil {
			return fmt.Errorf("learning round: %w", err)
		}
		m.mr.Learning = lr
	}
	if m.fwd {
		if f := rb.ollama.cpuFeatures(); f != "" {
			rb.rep.OllamaCPU = f
		}
		for _, typ := range m.types {
			if err := rb.ollama.client.Delete(ctx, ollamaName(s, typ)); err != nil {
				rb.logf("delete %s: %v", ollamaName(s, typ), err)
			}
		}
	}
	return nil
}

func ollamaName(s realShape, typ string) string { return "fastslow-bench-" + s.Name + "-" + typ }

// scoreTexts cuts n texts of about tokens tokens (4 characters a token) from the corpus, different for each
// round, so that no side, Ollama's prompt cache above all, sees a text twice.
func scoreTexts(corpus string, tokens, n, round int) []string {
	size := 4 * tokens
	var out []string
	for i := range n {
		off := ((round*n + i) * size) % max(1, len(corpus)-size)
		out = append(out, strings.ToValidUTF8(corpus[off:off+size], ""))
	}
	return out
}

// learningRound runs 'fastslow train' on examples cut from the corpus (a prompt of about 200 tokens and a
// completion of about 56: about seq tokens each) and measures its wall time and peak memory.
func (rb *realBench) learningRound(ctx context.Context, s realShape, base, text, dir string) (*learningRound, error) {
	o := rb.o
	data := filepath.Join(dir, "round.jsonl")
	f, err := os.Create(data)
	if err != nil {
		return nil, err
	}
	enc := json.NewEncoder(f)
	chars := 4 * o.seq
	for i := range o.roundExamples {
		off := (len(text)/2 + i*chars) % max(1, len(text)-chars)
		ex := strings.ToValidUTF8(text[off:off+chars], "")
		cut := len(ex) * 200 / 256
		for cut < len(ex) && !strings.HasPrefix(ex[cut:], " ") {
			cut++
		}
		if err := enc.Encode(map[string]string{"prompt": ex[:cut], "completion": ex[cut:]}); err != nil {
			f.Close()
			return nil, err
		}
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	out := filepath.Join(dir, "round-adapter.gguf")
	args := []string{"train", "--base", base, "--data", data, "--out", out, "--rank", fmt.Sprint(o.rank),
		"--alpha", fmt.Sprint(o.alpha), "--steps", fmt.Sprint(o.roundSteps), "--batch", fmt.Sprint(o.batch),
		"--targets", strings.Join(llamaTargets, ","), "--json"}
	if o.worker.recompute {
		args = append(args, "--recompute")
	}
	if o.worker.memLimitMiB > 0 {
		args = append(args, "--mem-limit", fmt.Sprintf("%dMiB", o.worker.memLimitMiB))
	}
	cmd := exec.CommandContext(ctx, rb.fastslow, args...)
	cmd.Env = append(os.Environ(), "FASTSLOW_HOME="+filepath.Join(dir, "home"), fmt.Sprintf("GOMAXPROCS=%d", o.threads))
	lr := &learningRound{Examples: o.roundExamples, Steps: o.roundSteps, Load: loadAvg(),
		CommandLine: "fastslow " + strings.Join(args, " ")}
	rb.logf("%s: learning round, %s", s.Name, lr.CommandLine)
	t0 := time.Now()
	var res struct {
		Tokens    int64   `json:"tokens"`
		TPS       float64 `json:"tokens_per_second"`
		FinalLoss float64 `json:"final_loss"`
	}
	rss, err := runJSON(cmd, &res)
	if err != nil {
		return nil, err
	}
	lr.WallSec = time.Since(t0).Seconds()
	lr.MaxRSSMiB, lr.TokensPerS, lr.Tokens, lr.FinalLoss = rss, res.TPS, res.Tokens, res.FinalLoss
	return lr, nil
}

var llamaTargets = []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}

// writeTorchConfig writes the configuration torchref.py builds a random-weight model of shape s from.
func (rb *realBench) writeTorchConfig(s realShape, dir string) (string, error) {
	c := s.Config
	if c.Architecture() != llama.ArchLlama || c.HeadDim()*c.Heads != c.Dim {
		return "", fmt.Errorf("the PyTorch reference runs llama shapes only, not %s", s.Name)
	}
	o := rb.o
	d := filepath.Join(dir, "torch")
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", err
	}
	cfg := map[string]any{"random": true, "vocab": c.Vocab, "dim": c.Dim, "hidden": c.Hidden, "layers": c.Layers,
		"heads": c.Heads, "kv_heads": c.KVHeads, "rope_base": c.RopeBase, "norm_eps": c.NormEps,
		"seq_max": o.seq + 16, "rank": o.rank, "alpha": o.alpha, "batch": o.batch, "seq": o.seq, "tied": c.TiedOutput}
	return d, writeJSON(filepath.Join(d, configFile), cfg)
}

// writeSgemmConfig writes the configuration the sgemm workers (Go and OpenBLAS) read.
func writeSgemmConfig(dir string, shapes []sgemmShape, threads int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return writeJSON(filepath.Join(dir, configFile), map[string]any{"sgemm_shapes": shapes, "sgemm_threads": []int{threads}})
}

// goSgemmBench is the default mode's machinery pointed at an sgemm configuration directory.
func (rb *realBench) goSgemmBench(dir string) *bench {
	return &bench{o: &options{threads: rb.o.threads}, dir: dir, self: rb.self, log: rb.log}
}

// torchIn runs torchref.py on the configuration in dir.
func (rb *realBench) torchIn(ctx context.Context, dir, mode string, steps, warmup int, out *procResult) error {
	b := *rb.torch
	b.dir = dir
	if err := b.torch(ctx, mode, steps, warmup, out); err != nil {
		return err
	}
	if core, _ := out.Blas["openblas_core"].(string); rb.o.openblasCore != "detect" && !strings.EqualFold(core, rb.o.openblasCore) {
		return fmt.Errorf("torchref.py ran OpenBLAS's %q kernels, not %s", core, rb.o.openblasCore)
	}
	if rb.rep.Torch == nil {
		rb.rep.Torch = out.Blas
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// runJSON runs cmd, decodes the JSON it prints into out, and returns its ru_maxrss in MiB.
func runJSON(cmd *exec.Cmd, out any) (float64, error) {
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("%v: %w\n%s", cmd.Args, err, tail(stderr.String(), 2000))
	}
	if err := json.Unmarshal([]byte(lastLine(stdout.String())), out); err != nil {
		return 0, fmt.Errorf("%v: output: %w\n%s", cmd.Args, err, tail(stdout.String(), 500))
	}
	var rss float64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = float64(ru.Maxrss) / 1024 // KiB on Linux
	}
	return rss, nil
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
