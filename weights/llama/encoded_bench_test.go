package llama

import (
	"slices"
	"testing"
	"time"

	"github.com/fastslow/fastslow/weights/gguf"
)

// encodedBenchConfig is the mid-size shape of the encoded-base benchmarks (about 40M parameters).
var encodedBenchConfig = Config{Vocab: 16384, Dim: 1024, Hidden: 2816, Layers: 2, Heads: 8, KVHeads: 4,
	ContextLength: 512, RopeBase: 10000, NormEps: 1e-5}

// encodedBenchModel returns a random model of encodedBenchConfig: float32 ("f32"), or quantized and kept
// encoded ("q4_k_m": Q4_K and Q6_K as llama.cpp's Q4_K_M chooses; "q8_0").
func encodedBenchModel(b *testing.B, base string) *Model {
	m, err := New(encodedBenchConfig)
	if err != nil {
		b.Fatal(err)
	}
	m.InitRandom(1, 0.02)
	if base == "f32" {
		return m
	}
	for _, p := range append([]*Param(nil), m.params...) {
		if len(p.Shape) != 2 {
			continue
		}
		typ := gguf.TypeQ8_0
		if base == "q4_k_m" {
			typ = q4KM(p.Name)
		}
		raw, err := gguf.Quantize(typ, p.Data)
		if err != nil {
			b.Fatal(err)
		}
		if err := m.SetEncoded(p.Name, typ, raw); err != nil {
			b.Fatal(err)
		}
	}
	return m
}

// encodedBenchSeqLen and encodedBenchBatch shape encodedBenchSeqs.
const encodedBenchSeqLen, encodedBenchBatch = 128, 4

// encodedBenchSeqs is the training batch of the encoded-base step benchmarks: four 128-token sequences of
// tokens spread over encodedBenchConfig's vocabulary.
func encodedBenchSeqs() []Sequence {
	seqs := make([]Sequence, encodedBenchBatch)
	for s := range seqs {
		toks := make([]int32, encodedBenchSeqLen)
		for i := range toks {
			toks[i] = int32((i*7919 + s*104729) % encodedBenchConfig.Vocab)
		}
		seqs[s] = Sequence{Tokens: toks, Start: 1}
	}
	return seqs
}

// BenchmarkEncodedLoRAStep measures a LoRA training step (rank 16 on all seven projections, forward and
// backward over four 128-token sequences) at a mid-size shape (dim 1024, hidden 2816, 2 blocks, vocabulary
// 16384), on a float32 base and on the same base quantized and kept encoded (Q4_K_M's choice of Q4_K and
// Q6_K, and Q8_0). Run it with
//
//	go test -run '^$' -bench BenchmarkEncodedLoRAStep -benchtime 5x -count 3 ./weights/llama/
func BenchmarkEncodedLoRAStep(b *testing.B) {
	seqs := encodedBenchSeqs()
	for _, base := range []string{"f32", "q4_k_m", "q8_0"} {
		b.Run(base, func(b *testing.B) {
			m := encodedBenchModel(b, base)
			a, err := NewAdapter(m, LoRAConfig{Rank: 16, Alpha: 32, Targets: linearNames[:]}, 1)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				a.ZeroGrad()
				if _, _, err := m.LossAndGrad(b.Context(), seqs, a, false); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(encodedBenchSeqLen*encodedBenchBatch*b.N)/b.Elapsed().Seconds(), "tokens/s")
			b.ReportMetric(float64(m.WeightBytes())/(1<<20), "weightMiB")
		})
	}
}

// BenchmarkEncodedDecodeToken measures the forward of a single token (the matrix-vector products of
// generation, which read every matrix once per token) on the float32 and the encoded bases of
// BenchmarkEncodedLoRAStep's shape:
//
//	go test -run '^$' -bench BenchmarkEncodedDecodeToken -benchtime 10x -count 3 ./weights/llama/
func BenchmarkEncodedDecodeToken(b *testing.B) {
	for _, base := range []string{"f32", "q4_k_m", "q8_0"} {
		b.Run(base, func(b *testing.B) {
			m := encodedBenchModel(b, base)
			for b.Loop() {
				if _, err := m.Logits([]int32{7}, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// BenchmarkEncodedLoRAStepPaired times BenchmarkEncodedLoRAStep's step on the float32 base and on the
// Q4_K_M-encoded base alternately, and reports the median over rounds of the ratio of their times
// (encoded/float32), which a shared machine's drifting load disturbs less than separate runs:
//
//	go test -run '^$' -bench BenchmarkEncodedLoRAStepPaired -benchtime 5x ./weights/llama/
func BenchmarkEncodedLoRAStepPaired(b *testing.B) {
	seqs := encodedBenchSeqs()
	models := []*Model{encodedBenchModel(b, "f32"), encodedBenchModel(b, "q4_k_m")}
	adapters := make([]*Adapter, 2)
	for i, m := range models {
		a, err := NewAdapter(m, LoRAConfig{Rank: 16, Alpha: 32, Targets: linearNames[:]}, 1)
		if err != nil {
			b.Fatal(err)
		}
		adapters[i] = a
	}
	var ratios []float64
	var total [2]time.Duration
	for b.Loop() {
		var d [2]time.Duration
		for i, m := range models {
			start := time.Now()
			adapters[i].ZeroGrad()
			if _, _, err := m.LossAndGrad(b.Context(), seqs, adapters[i], false); err != nil {
				b.Fatal(err)
			}
			d[i] = time.Since(start)
			total[i] += d[i]
		}
		ratios = append(ratios, d[1].Seconds()/d[0].Seconds())
	}
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "q4km/f32-time")
	b.ReportMetric(float64(encodedBenchSeqLen*encodedBenchBatch*b.N)/total[0].Seconds(), "f32-tokens/s")
	b.ReportMetric(float64(encodedBenchSeqLen*encodedBenchBatch*b.N)/total[1].Seconds(), "q4km-tokens/s")
}
