package llama

import (
	"math/rand/v2"
	"testing"

	"github.com/fastslow/fastslow/weights/gguf"
)

// BenchmarkInt8Product compares, at llama-3.2-1B's feed-forward shape (2048 → 8192, 128 rows of input), the
// int8 product (mulInt8: activations quantized to Q8_K/Q8_0, integer dot products) with the float32 product
// that decodes the encoded weights (matMul), for each weight type with an int8 kernel. Run with
// `go test -run '^$' -bench Int8Product ./weights/llama/`; the metric is multiply-adds per second.
func BenchmarkInt8Product(b *testing.B) {
	const in, out, n = 2048, 8192, 128
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, n*in)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]float32, n*out)
	for _, typ := range []gguf.Type{gguf.TypeQ4_K, gguf.TypeQ6_K, gguf.TypeQ8_0} {
		w := make([]float32, in*out)
		for i := range w {
			w[i] = float32(rng.NormFloat64() * 0.02)
		}
		raw, err := gguf.Quantize(typ, w)
		if err != nil {
			b.Fatal(err)
		}
		f := quantFormats[typ]
		q := &quantMatrix{typ: typ, in: in, out: out, raw: raw, rowBytes: in / f.block * f.bytes, blockBytes: f.bytes,
			act: f.act, enc: true}
		b.Run(typ.String()+"/int8", func(b *testing.B) {
			if int8KKernels[typ] == nil && int8Kernels[typ] == nil {
				b.Skip("no int8 kernel")
			}
			for b.Loop() {
				q.mulInt8(y, x, n)
			}
			b.ReportMetric(float64(in*out*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
		})
		b.Run(typ.String()+"/f32", func(b *testing.B) {
			for b.Loop() {
				q.matMul(y, x, n)
			}
			b.ReportMetric(float64(in*out*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
		})
	}
}
