package llama

import (
	"math"
	"slices"
	"testing"
)

func TestRoundHalf(t *testing.T) {
	inf := float32(math.Inf(1))
	tests := []struct{ in, want float32 }{
		{0, 0},
		{1, 1},
		{-2.5, -2.5},
		{1 + 1.0/2048, 1},            // tie between 1 and 1+2^-10: to even (1)
		{1 + 3.0/2048, 1 + 2.0/1024}, // tie: to even (1+2^-9)
		{1 + 1.0/2048 + 1.0/65536, 1 + 1.0/1024},
		{0.1, 0.0999755859375}, // the float16 nearest 0.1
		{65504, 65504},         // largest float16
		{65519, 65504},
		{65520, inf},
		{-1e6, -inf},
		{1.0 / (1 << 24), 1.0 / (1 << 24)}, // smallest subnormal
		{1.0 / (1 << 25), 0},               // tie between 0 and 2^-24: to even (0)
		{3.0 / (1 << 25), 2.0 / (1 << 24)}, // tie between 2^-24 and 2^-23: to even
		{1.0/(1<<14) - 1.0/(1<<26), 1.0 / (1 << 14)}, // rounds up out of the subnormals
		{2047.0 / 1024 * 32768, 65504},
	}
	for _, tt := range tests {
		if got := roundHalf(tt.in); got != tt.want {
			t.Errorf("roundHalf(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if got := roundHalf(float32(math.NaN())); got == got {
		t.Errorf("roundHalf(NaN) = %v", got)
	}
	// Every float16 value is a fixed point.
	for e := -14; e <= 15; e++ {
		for m := 0; m < 1024; m++ {
			if v := float32(math.Ldexp(1+float64(m)/1024, e)); roundHalf(v) != v {
				t.Fatalf("float16 value %v not a fixed point: %v", v, roundHalf(v))
			}
		}
	}
	for m := 1; m < 1024; m++ {
		if v := float32(math.Ldexp(float64(m), -24)); roundHalf(v) != v {
			t.Fatalf("float16 subnormal %v not a fixed point: %v", v, roundHalf(v))
		}
	}
	// Rounding is monotonic and within half a float16 step.
	prev := float32(0)
	for v := float32(1e-9); v < 70000; v *= 1.0007 {
		r := roundHalf(v)
		if r < prev {
			t.Fatalf("not monotonic at %v", v)
		}
		prev = r
		if v < 65504 && math.Abs(float64(r-v)) > math.Max(float64(v)/2048, 1.0/(1<<25)) {
			t.Fatalf("roundHalf(%v) = %v, too far", v, r)
		}
	}
}

// TestPrecision checks that the float16 emulation changes the logits by about float16's resolution, no more,
// and that the cached decoding applies it the same way as the full forward.
func TestPrecision(t *testing.T) {
	tokens := []int32{1, 2, 3, 4, 5, 6}
	base := newTiny(t, false, 2)
	ref, err := base.Logits(tokens, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, prec := range []Precision{{KVCacheF16: true}, {F16Weights: true}, {KVCacheF16: true, F16Weights: true}, {GGMLPortable: true}, Runner()} {
		m := newTiny(t, false, 2)
		m.Precision = prec
		got, err := m.Logits(tokens, nil)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Equal(got, ref) {
			t.Errorf("%+v: logits unchanged", prec)
		}
		var worst float64
		for i := range got {
			worst = math.Max(worst, math.Abs(float64(got[i]-ref[i])))
		}
		if worst > 0.05 {
			t.Errorf("%+v: logits moved by %v", prec, worst)
		}
		out, err := m.Generate(t.Context(), tokens[:2], 10, Sampler{}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		seq := slices.Clone(tokens[:2])
		for i, tok := range out {
			if want := lastArgmax(t, m, seq, nil); tok != want {
				t.Fatalf("%+v step %d: cached %d, full forward %d", prec, i, tok, want)
			}
			seq = append(seq, tok)
		}
	}
}
