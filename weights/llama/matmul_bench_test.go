package llama

import (
	"context"
	"testing"
)

// issueConfig is the model of the performance comparison with PyTorch (issue 7): about 5.5M parameters.
var issueConfig = Config{Vocab: 2048, Dim: 256, Hidden: 704, Layers: 6, Heads: 8, KVHeads: 4,
	ContextLength: 512, RopeBase: 10000, NormEps: 1e-5}

// BenchmarkLoRAStep measures one LoRA training step (rank 8 on all seven projections) over 8 sequences of
// 128 tokens of issueConfig, the workload the README's performance table reports.
func BenchmarkLoRAStep(b *testing.B) {
	m, err := New(issueConfig)
	if err != nil {
		b.Fatal(err)
	}
	m.InitRandom(1, 0.02)
	a, err := NewAdapter(m, LoRAConfig{Rank: 8, Alpha: 16, Targets: linearNames[:]}, 1)
	if err != nil {
		b.Fatal(err)
	}
	seqs := make([]Sequence, 8)
	for i := range seqs {
		toks := make([]int32, 128)
		for j := range toks {
			toks[j] = int32((i*131 + j*7) % issueConfig.Vocab)
		}
		seqs[i] = Sequence{Tokens: toks, Start: 1}
	}
	for b.Loop() {
		if _, _, err := m.LossAndGrad(context.Background(), seqs, a, false); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(8*128*b.N)/b.Elapsed().Seconds(), "tokens/s")
}
