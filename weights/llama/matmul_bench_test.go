package llama

import (
	"context"
	"math"
	"testing"
	"time"
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

// BenchmarkKernel measures each micro-kernel alone on one core: one micro-panel of A against 16 packed panels
// of B, k = kcMax, everything in cache. It is the ceiling sgemm can reach.
func BenchmarkKernel(b *testing.B) {
	for _, kn := range kernels() {
		b.Run(kn.name, func(b *testing.B) {
			const panels = 16
			a := make([]float32, kn.mr*kcMax)
			bp := make([]float32, panels*kn.nr*kcMax)
			c := make([]float32, kn.mr*panels*kn.nr)
			for i := range a {
				a[i] = float32(i%7) * 0.01
			}
			for b.Loop() {
				for j := range panels {
					kn.tile(kcMax, a, 1, kn.mr, bp[j*kn.nr*kcMax:], kn.nr, c[j*kn.nr:], panels*kn.nr, 1, true)
				}
			}
			flops := 2 * float64(kn.mr*kn.nr*kcMax*panels)
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
		})
	}
}

// BenchmarkSgemm measures the products of a LoRA training step of issueConfig (1024 rows: 8 sequences of
// 128 tokens), forward (NT), input gradient (NN) and weight gradient (TN), on one goroutine and on all.
func BenchmarkSgemm(b *testing.B) {
	const t = 1024
	shapes := []struct {
		name        string
		m, n, k     int
		tA, tB      bool
		parallelize bool
	}{
		{"fwd_q_256x256", t, 256, 256, false, true, true},
		{"fwd_k_256x128", t, 128, 256, false, true, true},
		{"fwd_gate_256x704", t, 704, 256, false, true, true},
		{"fwd_down_704x256", t, 256, 704, false, true, true},
		{"fwd_output_256x2048", 128, 2048, 256, false, true, true},
		{"backX_q_256x256", t, 256, 256, false, false, true},
		{"backX_gate_704x256", t, 256, 704, false, false, true},
		{"backX_down_256x704", t, 704, 256, false, false, true},
		{"backW_gate_704x256", 704, 256, t, true, false, true},
		{"lora_xa_256x8", t, 8, 256, false, true, true},
		{"lora_xab_8x704", t, 704, 8, false, true, true},
		{"attn_qk_128x128x32", 128, 128, 32, false, true, false},
		{"attn_pv_128x32x128", 128, 32, 128, false, true, false},
	}
	for _, s := range shapes {
		for _, par := range []bool{false, true} {
			if par && !s.parallelize {
				continue
			}
			name := s.name + "/serial"
			if par {
				name = s.name + "/parallel"
			}
			b.Run(name, func(b *testing.B) {
				a := make([]float32, s.m*s.k)
				bb := make([]float32, s.k*s.n)
				c := make([]float32, s.m*s.n)
				for i := range a {
					a[i] = float32(i%13) * 0.01
				}
				for i := range bb {
					bb[i] = float32(i%11) * 0.01
				}
				lda, ldb := s.k, s.n
				if s.tA {
					lda = s.m
				}
				if s.tB {
					ldb = s.k
				}
				best := time.Duration(math.MaxInt64)
				for b.Loop() {
					t0 := time.Now()
					sgemm(s.m, s.n, s.k, 1, a, lda, s.tA, bb, ldb, s.tB, false, c, s.n, par)
					best = min(best, time.Since(t0))
				}
				flops := 2 * float64(s.m*s.n*s.k)
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
				// On a machine shared with other work the fastest call is the steadiest figure.
				b.ReportMetric(flops/best.Seconds()/1e9, "best-GFLOPS")
			})
		}
	}
}
