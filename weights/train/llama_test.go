package train

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/fastslow/fastslow/weights/llama"
)

var tinyConfig = llama.Config{Vocab: 32, Dim: 16, Hidden: 32, Layers: 2, Heads: 4, KVHeads: 2,
	ContextLength: 64, RopeBase: 10000, NormEps: 1e-5}

func tinyModel(t testing.TB) *llama.Model {
	t.Helper()
	m, err := llama.New(tinyConfig)
	if err != nil {
		t.Fatal(err)
	}
	m.InitRandom(1, 0.4)
	return m
}

// countingData is a set of sequences "a, a+1, a+2, ..." modulo the vocabulary, with the first three
// tokens as the prompt.
func countingData(n int) []llama.Sequence {
	data := make([]llama.Sequence, n)
	for i := range data {
		toks := make([]int32, 10)
		for j := range toks {
			toks[j] = int32((3*i + j) % tinyConfig.Vocab)
		}
		data[i] = llama.Sequence{Tokens: toks, Start: 3}
	}
	return data
}

// TestLoRAObjective trains an adapter on a real model: the loss must fall, the base weights must
// stay as they were, two runs must agree bit for bit (so the model's parallel backward pass is
// reproducible), and a cancelled run must resume to the same adapter.
func TestLoRAObjective(t *testing.T) {
	data := countingData(12)
	opt := Options{Steps: 40, BatchSize: 4, LR: 5e-2, Warmup: 3, ClipNorm: 1, Seed: 1}
	train := func(opt Options, stop int) (Result, *llama.Model, *llama.Adapter, error) {
		m := tinyModel(t)
		a, err := llama.NewAdapter(m, llama.LoRAConfig{Rank: 4, Alpha: 8, Targets: []string{"attn_q", "attn_v", "ffn_down"}}, 1)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		res, err := Run(ctx, LoRAObjective(m, a), data, opt, func(p Progress) {
			if p.Step == stop {
				cancel()
			}
		})
		return res, m, a, err
	}
	res1, m1, a1, err := train(opt, -1)
	if err != nil {
		t.Fatal(err)
	}
	if !(res1.FinalLoss() < 0.7*res1.Losses[0]) {
		t.Errorf("loss went from %.3f to %.3f", res1.Losses[0], res1.FinalLoss())
	}
	if !sameBits(paramData(m1.Tensors()), paramData(tinyModel(t).Tensors())) {
		t.Error("LoRA training changed the base weights")
	}
	res2, _, a2, err := train(opt, -1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range res1.Losses {
		if math.Float64bits(res1.Losses[i]) != math.Float64bits(res2.Losses[i]) {
			t.Fatalf("step %d: loss %v then %v", i+1, res1.Losses[i], res2.Losses[i])
		}
	}
	if !sameBits(paramData(a1.Params()), paramData(a2.Params())) {
		t.Fatal("two runs gave different adapters")
	}

	opt.CheckpointPath = filepath.Join(t.TempDir(), "lora.ckpt")
	if _, _, _, err := train(opt, 13); err == nil {
		t.Fatal("cancelled run returned no error")
	}
	res3, _, a3, err := train(opt, -1)
	if err != nil {
		t.Fatal(err)
	}
	if res3.ResumedFrom != 13 || !sameBits(paramData(a3.Params()), paramData(a1.Params())) {
		t.Fatalf("resumed from %d; same adapter as the straight run: %v", res3.ResumedFrom, sameBits(paramData(a3.Params()), paramData(a1.Params())))
	}
}

// TestFullObjective trains every weight of a small model from scratch.
func TestFullObjective(t *testing.T) {
	m := tinyModel(t)
	before := paramData(m.Tensors())
	res, err := Run(context.Background(), FullObjective(m), countingData(12), Options{Steps: 25, BatchSize: 4, LR: 1e-2, Warmup: 2, WeightDecay: 0.1, ClipNorm: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !(res.FinalLoss() < 0.7*res.Losses[0]) {
		t.Errorf("loss went from %.3f to %.3f", res.Losses[0], res.FinalLoss())
	}
	after := m.Tensors()
	for i, p := range after {
		if sameBits([][]float32{before[i]}, [][]float32{p.Data}) {
			t.Errorf("tensor %s did not change", p.Name)
		}
	}
}

func TestObjectivesRejectNil(t *testing.T) {
	data := countingData(2)
	opt := Options{Steps: 1}
	if _, err := Run(context.Background(), LoRAObjective(nil, nil), data, opt, nil); err == nil {
		t.Error("LoRA objective without adapter trained")
	}
	m := tinyModel(t)
	a, err := llama.NewAdapter(m, llama.LoRAConfig{Rank: 2, Targets: []string{"attn_q"}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), LoRAObjective(nil, a), data, opt, nil); err == nil {
		t.Error("LoRA objective without model trained")
	}
	if _, err := Run(context.Background(), FullObjective(nil), data, opt, nil); err == nil {
		t.Error("full objective without model trained")
	}
}

func paramData(ps []*llama.Param) [][]float32 {
	out := make([][]float32, len(ps))
	for i, p := range ps {
		out[i] = append([]float32(nil), p.Data...)
	}
	return out
}
