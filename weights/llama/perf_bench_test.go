package llama

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/fastslow/fastslow/weights/gguf"
)

// BenchmarkSgemm1B measures the products of a LoRA step at the llama-3.2 1B shape (1024 rows, dim 2048,
// ffn 8192) on all goroutines, with float32 and Q4_K / Q6_K encoded weights.
func BenchmarkSgemm1B(b *testing.B) {
	const t = 1024
	shapes := []struct {
		name    string
		in, out int
		back    bool
	}{
		{"fwd_gate", 2048, 8192, false},
		{"fwd_down", 8192, 2048, false},
		{"fwd_q", 2048, 2048, false},
		{"dx_gate", 2048, 8192, true},
		{"dx_down", 8192, 2048, true},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range shapes {
		w := make([]float32, s.in*s.out)
		for i := range w {
			w[i] = float32(rng.NormFloat64() * 0.02)
		}
		for _, typ := range []gguf.Type{gguf.TypeF32, gguf.TypeQ4_K, gguf.TypeQ6_K} {
			var q *quantMatrix
			if typ != gguf.TypeF32 {
				raw, err := gguf.Quantize(typ, w)
				if err != nil {
					b.Fatal(err)
				}
				q = &quantMatrix{typ: typ, in: s.in, out: s.out, raw: raw, rowBytes: len(raw) / s.out,
					blockBytes: len(raw) / s.out / (s.in / int(typ.BlockSize())), enc: true}
			}
			{
				b.Run(fmt.Sprintf("%s/%v", s.name, typ), func(b *testing.B) {
					x := make([]float32, t*max(s.in, s.out))
					for i := range x {
						x[i] = float32(rng.NormFloat64())
					}
					y := make([]float32, t*max(s.in, s.out))
					for b.Loop() {
						switch {
						case q == nil && !s.back:
							sgemm(t, s.out, s.in, 1, x, s.in, false, w, s.in, true, false, y, s.out, true)
						case q == nil:
							sgemm(t, s.in, s.out, 1, x, s.out, false, w, s.in, false, true, y, s.in, true)
						case !s.back:
							sgemmQ(t, s.out, s.in, 1, x, s.in, false, q, true, false, y, s.out)
						default:
							sgemmQ(t, s.in, s.out, 1, x, s.out, false, q, false, true, y, s.in)
						}
					}
					flops := 2 * float64(t*s.in*s.out)
					b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
				})
			}
		}
	}
}
