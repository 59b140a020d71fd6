package llama

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fastslow/fastslow/weights/gguf"
)

// TestDecodeFast checks decodeFast against gguf.Dequantize bit for bit: on random bytes (every scale and
// every quantized value, NaN and infinite scales included) and on the encodings of random weights, for
// several lengths.
func TestDecodeFast(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2 here: decodeFast always defers to gguf.Dequantize")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		typ    gguf.Type
		blocks []int
	}{
		{gguf.TypeQ8_0, []int{1, 2, 63, 64, 65, 200}},
		{gguf.TypeQ4_K, []int{1, 3, 8}},
		{gguf.TypeQ6_K, []int{1, 3, 8}},
	} {
		bs := int(tc.typ.BlockSize())
		for _, nb := range tc.blocks {
			n := nb * bs
			inputs := map[string][]byte{}
			raw := make([]byte, tc.typ.RowBytes(uint64(n)))
			for i := range raw {
				raw[i] = byte(rng.Uint32())
			}
			inputs["random bytes"] = raw
			w := make([]float32, n)
			for i := range w {
				w[i] = float32(rng.NormFloat64())
			}
			enc, err := gguf.Quantize(tc.typ, w)
			if err != nil {
				t.Fatal(err)
			}
			inputs["quantized weights"] = enc
			for name, src := range inputs {
				want := make([]float32, n)
				if err := gguf.Dequantize(tc.typ, src, want); err != nil {
					t.Fatal(err)
				}
				got := make([]float32, n)
				if !decodeFast(tc.typ, src, got) {
					t.Fatalf("%v: decodeFast declined %d blocks", tc.typ, nb)
				}
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%v, %d blocks of %s: value %d = %v (%#x), gguf.Dequantize gives %v (%#x)", tc.typ,
							nb, name, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
					}
				}
			}
		}
	}
	if decodeFast(gguf.TypeQ5_K, make([]byte, gguf.TypeQ5_K.RowBytes(256)), make([]float32, 256)) {
		t.Error("decodeFast claims Q5_K, which it does not decode")
	}
	if decodeFast(gguf.TypeQ8_0, make([]byte, 33), make([]float32, 32)) {
		t.Error("decodeFast accepted a Q8_0 block of the wrong size")
	}
}

func BenchmarkDecodeFast(b *testing.B) {
	for _, typ := range []gguf.Type{gguf.TypeQ8_0, gguf.TypeQ4_K, gguf.TypeQ6_K} {
		const n = 8192
		src := make([]byte, typ.RowBytes(n))
		dst := make([]float32, n)
		b.Run(typ.String()+"/fast", func(b *testing.B) {
			for b.Loop() {
				decodeFast(typ, src, dst)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/value")
		})
		b.Run(typ.String()+"/gguf", func(b *testing.B) {
			for b.Loop() {
				_ = gguf.Dequantize(typ, src, dst)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/value")
		})
	}
}
