package llama

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fastslow/fastslow/weights/gguf"
)

// randomQuant quantizes random weights (out rows of in) to typ and returns the quantized matrix and its values
// as gguf.Dequantize gives them.
func randomQuant(t *testing.T, rng *rand.Rand, typ gguf.Type, in, out int) (*quantMatrix, []float32) {
	t.Helper()
	w := make([]float32, in*out)
	for i := range w {
		w[i] = float32(rng.NormFloat64() * 0.1)
	}
	raw, err := gguf.Quantize(typ, w)
	if err != nil {
		t.Fatal(err)
	}
	dec := make([]float32, len(w))
	if err := gguf.Dequantize(typ, raw, dec); err != nil {
		t.Fatal(err)
	}
	f := quantFormats[typ]
	q := &quantMatrix{typ: typ, in: in, out: out, raw: raw, rowBytes: in / f.block * f.bytes, blockBytes: f.bytes, act: f.act}
	return q, dec
}

// TestQuantizedProducts checks each block format's product against float64 arithmetic on the same numbers:
// the weights as gguf dequantizes them and the inputs as the Q8 activation blocks hold them. The two must
// agree to float32 rounding, which catches any misread bit of a block layout; and the result must stay near
// the plain float32 product, off only by the activation quantization.
func TestQuantizedProducts(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const in, out, n = 512, 24, 3
	x := make([]float32, n*in)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	x[5] = 0 // a zero and a block of zeros exercise the d = 0 paths
	clear(x[in : in+256])
	for _, typ := range QuantizedTypes()[1:] { // F16 is checked with Precision
		t.Run(typ.String(), func(t *testing.T) {
			q, deq := randomQuant(t, rng, typ, in, out)
			f := quantFormats[typ]
			y := make([]float32, n*out)
			q.mul(y, x, n, false)
			for r := range n {
				xq := dequantAct(f.act, x[r*in:(r+1)*in])
				for o := range out {
					var exact, plain float64
					for k := range in {
						exact += float64(deq[o*in+k]) * xq[k]
						plain += float64(deq[o*in+k]) * float64(x[r*in+k])
					}
					if f.act == actQ8_1 {
						// The minimum m of each weight block meets the activations' stored sum s, an fp16
						// rounding of d·Σqs: exact = Σ (w−m)·x + Σ m·s.
						for b, blk := range quantizeQ8_0(x[r*in:(r+1)*in], true) {
							m := float64(fp16At(q.raw[o*q.rowBytes+b*f.bytes+2:]))
							for k := b * 32; k < b*32+32; k++ {
								exact -= m * xq[k]
							}
							exact += m * float64(blk.s)
						}
					}
					got := float64(y[r*out+o])
					if math.Abs(got-exact) > 1e-5*(1+math.Abs(exact)) {
						t.Fatalf("row %d out %d: %v, exact product of the quantized numbers %v", r, o, got, exact)
					}
					if math.Abs(got-plain) > 0.05*(1+math.Abs(plain)) {
						t.Fatalf("row %d out %d: %v, far from the float product %v", r, o, got, plain)
					}
				}
			}
		})
	}
}

// dequantAct returns the values the activation blocks of x stand for.
func dequantAct(f actFormat, x []float32) []float64 {
	out := make([]float64, len(x))
	if f != actQ8_K {
		for b, blk := range quantizeQ8_0(x, f == actQ8_1) {
			for j, q := range blk.qs {
				out[b*32+j] = float64(blk.d) * float64(q)
			}
		}
		return out
	}
	for b, blk := range quantizeQ8_K(x) {
		for j, q := range blk.qs {
			out[b*256+j] = float64(blk.d) * float64(q)
		}
	}
	return out
}

func TestQuantizeActivations(t *testing.T) {
	// Q8_0 rounds half away from zero (roundf); Q8_K rounds half to even (nearest_int) and scales by the
	// signed value of largest magnitude, so that value maps to −127.
	x := make([]float32, 256)
	x[0], x[1], x[2] = 127, 0.5, 2.5
	b0 := quantizeQ8_0(x[:32], true)[0]
	if b0.d != 1 || b0.qs[0] != 127 || b0.qs[1] != 1 || b0.qs[2] != 3 || b0.s != 131 {
		t.Errorf("q8_1: d %v s %v qs %v", b0.d, b0.s, b0.qs[:3])
	}
	if b := quantizeQ8_0(x[:32], false)[0]; b.s != 0 || b.qs != b0.qs {
		t.Errorf("q8_0: s %v qs %v", b.s, b.qs[:3])
	}
	bk := quantizeQ8_K(x)[0]
	if bk.d != -1 || bk.qs[0] != -127 || bk.qs[1] != 0 || bk.qs[2] != -2 || bk.bsums[0] != -129 {
		t.Errorf("q8_K: d %v qs %v bsums %v", bk.d, bk.qs[:3], bk.bsums[0])
	}
	if z := quantizeQ8_K(make([]float32, 256))[0]; z.d != 0 || z.qs[0] != 0 {
		t.Errorf("q8_K of zeros: %+v", z.d)
	}
}

func TestSetQuantized(t *testing.T) {
	c := tinyConfig(true)
	c.Dim, c.Hidden = 32, 64
	m := newTinyConfig(t, c, 1)
	p, _ := m.Tensor("blk.0.attn_q.weight")
	raw, err := gguf.Quantize(gguf.TypeQ8_0, p.Data)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetQuantized(p.Name, gguf.TypeQ8_0, raw); err != nil {
		t.Fatal(err)
	}
	if typ, ok := m.Quantized(p.Name); !ok || typ != gguf.TypeQ8_0 {
		t.Errorf("Quantized = %v, %v", typ, ok)
	}
	bad := []struct {
		name string
		typ  gguf.Type
		raw  []byte
	}{
		{"blk.0.attn_norm.weight", gguf.TypeQ8_0, raw},
		{"nope", gguf.TypeQ8_0, raw},
		{p.Name, gguf.TypeQ2_K, raw},
		{p.Name, gguf.TypeBF16, raw},
		{p.Name, gguf.TypeQ4_K, raw}, // rows of 32 do not fill blocks of 256
		{p.Name, gguf.TypeQ8_0, raw[:len(raw)-1]},
	}
	for _, tt := range bad {
		if err := m.SetQuantized(tt.name, tt.typ, tt.raw); err == nil {
			t.Errorf("SetQuantized(%s, %v, %d bytes) accepted", tt.name, tt.typ, len(tt.raw))
		}
	}
	m.ClearQuantized()
	if _, ok := m.Quantized(p.Name); ok {
		t.Error("ClearQuantized kept a form")
	}
}

// TestQuantizedInference runs a model whose matrices all have Q8_0 forms: with Precision.Quantized the
// logits move (activations are quantized) but stay close, and cached decoding agrees with the full forward.
func TestQuantizedInference(t *testing.T) {
	c := tinyConfig(true)
	c.Dim, c.Hidden, c.Vocab = 32, 64, 11
	m := newTinyConfig(t, c, 5)
	for _, p := range m.Tensors() {
		if len(p.Shape) != 2 {
			continue
		}
		raw, err := gguf.Quantize(gguf.TypeQ8_0, p.Data)
		if err != nil {
			t.Fatal(err)
		}
		if err := gguf.Dequantize(gguf.TypeQ8_0, raw, p.Data); err != nil {
			t.Fatal(err)
		}
		if err := m.SetQuantized(p.Name, gguf.TypeQ8_0, raw); err != nil {
			t.Fatal(err)
		}
	}
	tokens := []int32{1, 4, 2, 8, 5, 7}
	ref, err := m.Logits(tokens, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Precision.Quantized = true
	got, err := m.Logits(tokens, nil)
	if err != nil {
		t.Fatal(err)
	}
	var worst, moved, size float64
	for i := range got {
		d := math.Abs(float64(got[i] - ref[i]))
		worst = max(worst, d)
		moved += d
		size = max(size, math.Abs(float64(ref[i])))
	}
	if moved == 0 || worst > 0.05*size {
		t.Errorf("quantized products moved the logits by up to %v (total %v; largest logit %v)", worst, moved, size)
	}
	out, err := m.Generate(t.Context(), tokens[:2], 8, Sampler{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	seq := append([]int32(nil), tokens[:2]...)
	for i, tok := range out {
		if want := lastArgmax(t, m, seq, nil); tok != want {
			t.Fatalf("step %d: cached %d, full forward %d", i, tok, want)
		}
		seq = append(seq, tok)
	}
	sum, _, err := m.LogLikelihood(tokens[:3], tokens[3:], nil)
	if err != nil || math.IsNaN(sum) {
		t.Fatalf("log likelihood %v, %v", sum, err)
	}
}

func TestDot64(t *testing.T) {
	x := []float32{1e8, 1, -1e8, 0.5, 3}
	w := []float32{1, 1, 1, 2, 1e-8}
	// float64 sums in order keep the 1 that float32 sums would lose: 1e8 + 1 − 1e8 + 1 + 3e-8.
	want := float32(float64(1e8) + 1 - 1e8 + 1 + float64(float32(3*float32(1e-8))))
	if got := dot64(x, w); got != want {
		t.Errorf("dot64 = %v, want %v", got, want)
	}
	y := make([]float32, 2*3)
	xs := []float32{1, 2, 3, 4, 5, 6}
	ws := []float32{1, 0, 0, 0, 1, 0, 1, 1, 1}
	mulF64(y, xs, ws, 2, 3, 3)
	for i, want := range []float32{1, 2, 6, 4, 5, 15} {
		if y[i] != want {
			t.Fatalf("mulF64 = %v", y)
		}
	}
}
