package weights_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/train"
)

// The memory measurement of the encoded base (a documented command, not a CI test; it needs a model of some
// hundreds of MB quantized by Ollama):
//
//	FASTSLOW_RSS_WRITE=/tmp/big-f16.gguf go test -run TestRSSWriteModel ./weights/   # dim 2048, 8 blocks, F16
//	ollama create big -q q4_K_M -f Modelfile                                          # FROM /tmp/big-f16.gguf
//	go test -c -o /tmp/w.test ./weights/
//	FASTSLOW_RSS_MODEL=<the q4_K_M blob> FASTSLOW_RSS_BASE=encoded /tmp/w.test -test.run TestRSSStep -test.v
//	FASTSLOW_RSS_MODEL=<the q4_K_M blob> FASTSLOW_RSS_BASE=decoded /tmp/w.test -test.run TestRSSStep -test.v
//
// Each run is a fresh process and logs its peak resident set (VmHWM) after loading and one LoRA step.

func TestRSSWriteModel(t *testing.T) {
	path := os.Getenv("FASTSLOW_RSS_WRITE")
	if path == "" {
		t.Skip("FASTSLOW_RSS_WRITE not set (memory measurement, see the comment above)")
	}
	shape := llama.Config{Dim: 2048, Hidden: 5632, Layers: 8, Heads: 16, KVHeads: 16, ContextLength: 512,
		RopeBase: 10000, NormEps: 1e-5}
	if _, _, err := tinymodel.WriteShape(context.Background(), path, shape, 1, 0.02, gguf.TypeF16); err != nil {
		t.Fatal(err)
	}
}

func TestRSSStep(t *testing.T) {
	path := os.Getenv("FASTSLOW_RSS_MODEL")
	if path == "" {
		t.Skip("FASTSLOW_RSS_MODEL not set (memory measurement, see the comment above)")
	}
	opt := weights.LoadOptions{}
	if os.Getenv("FASTSLOW_RSS_BASE") == "decoded" {
		opt.Base = weights.BaseDecoded
	}
	m, err := weights.LoadWith(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded: weights %d MiB, VmHWM %s", m.WeightBytes()>>20, vmHWM(t))
	seqs := []llama.Sequence{}
	for s := range 4 {
		toks := make([]int32, 256)
		for i := range toks {
			toks[i] = int32((i*31 + s*17) % m.Config.Vocab)
		}
		seqs = append(seqs, llama.Sequence{Tokens: toks, Start: 1})
	}
	lo := weights.LoRAOptions{LoRA: llama.LoRAConfig{Rank: 16, Alpha: 32, Targets: weights.DefaultLoRA.Targets},
		Train: train.Options{Steps: 1, BatchSize: 4, LR: 1e-3}}
	_, res, err := weights.FineTuneSequences(context.Background(), m, seqs, lo, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("base %s: one LoRA step (4×256 tokens, rank 16, 7 projections) in %v, loss %.4f; peak RSS (VmHWM) %s",
		os.Getenv("FASTSLOW_RSS_BASE"), res.Elapsed, res.FinalLoss(), vmHWM(t))
}

func vmHWM(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
		}
	}
	return "?"
}
