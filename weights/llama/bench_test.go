package llama

import (
	"context"
	"testing"
)

// benchConfig is the size the benchmarks report on: about 4.6M parameters.
var benchConfig = Config{Vocab: 2048, Dim: 256, Hidden: 688, Layers: 4, Heads: 8, KVHeads: 4,
	ContextLength: 512, RopeBase: 10000, NormEps: 1e-5}

const benchSeq = 128

func benchModel(b *testing.B) (*Model, []int32) {
	m, err := New(benchConfig)
	if err != nil {
		b.Fatal(err)
	}
	m.InitRandom(1, 0.02)
	tokens := make([]int32, benchSeq)
	for i := range tokens {
		tokens[i] = int32(i * 7 % benchConfig.Vocab)
	}
	return m, tokens
}

// BenchmarkForward measures Logits over one 128-token sequence.
func BenchmarkForward(b *testing.B) {
	m, tokens := benchModel(b)
	for b.Loop() {
		if _, err := m.Logits(tokens, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(benchSeq*b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkLossAndGrad measures a training step's forward and backward over four 128-token sequences, for
// the full model and for a rank-8 LoRA on all seven projections.
func BenchmarkLossAndGrad(b *testing.B) {
	for _, mode := range []string{"base", "lora"} {
		b.Run(mode, func(b *testing.B) {
			m, tokens := benchModel(b)
			var a *Adapter
			if mode == "lora" {
				var err error
				a, err = NewAdapter(m, LoRAConfig{Rank: 8, Alpha: 16, Targets: linearNames[:]}, 1)
				if err != nil {
					b.Fatal(err)
				}
			}
			seqs := make([]Sequence, 4)
			for i := range seqs {
				seqs[i] = Sequence{Tokens: tokens, Start: 1}
			}
			for b.Loop() {
				if _, _, err := m.LossAndGrad(context.Background(), seqs, a, mode == "base"); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(seqs)*benchSeq*b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// BenchmarkGenerate measures incremental decoding with the key/value cache.
func BenchmarkGenerate(b *testing.B) {
	m, tokens := benchModel(b)
	const n = 64
	for b.Loop() {
		if _, err := m.Generate(context.Background(), tokens[:16], n, Sampler{}, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkMatMul measures the three products of a 256→688 projection over 512 rows.
func BenchmarkMatMul(b *testing.B) {
	const t, in, out = 512, 256, 688
	x, w, y := make([]float32, t*in), make([]float32, out*in), make([]float32, t*out)
	for i := range x {
		x[i] = float32(i%13) * 0.01
	}
	for i := range w {
		w[i] = float32(i%11) * 0.01
	}
	for _, bc := range []struct {
		name string
		f    func()
	}{
		{"forward", func() { matMul(y, x, w, t, in, out) }},
		{"backX", func() { matMulBackX(x, y, w, t, in, out) }},
		{"backW", func() { matMulBackW(w, y, x, t, in, out) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				bc.f()
			}
			b.ReportMetric(2*t*in*out*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
		})
	}
}
