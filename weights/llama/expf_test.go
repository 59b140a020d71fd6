package llama

import (
	"math"
	"testing"
)

// glibcExpfCases are inputs where glibc's expf is not the correctly rounded float32 of e^x, with glibc's result
// (found by sweeping float32 values against glibc 2.36's libm).
var glibcExpfCases = []struct{ x, want uint32 }{
	{0x39ed2a44, 0x3f800ed4}, // 0x1.da5488p-12
	{0x3a5c6c45, 0x3f801b91}, // 0x1.b8d88ap-11
	{0x3a6ed823, 0x3f801ddf}, // 0x1.ddb046p-11
	{0x3aa5534c, 0x3f80295c}, // 0x1.4aa698p-10
}

func TestExpfMatchesGlibc(t *testing.T) {
	for _, tt := range glibcExpfCases {
		x := math.Float32frombits(tt.x)
		if got := math.Float32bits(glibcExpf(x)); got != tt.want {
			t.Errorf("glibcExpf(%v) = %#x, glibc %#x", x, got, tt.want)
		}
		if c := math.Float32bits(float32(math.Exp(float64(x)))); c == tt.want {
			t.Errorf("glibcExpf(%v): glibc's value %#x is the correctly rounded one; the case shows nothing", x, c)
		}
	}
	specials := []struct{ x, want float32 }{
		{float32(math.Inf(-1)), 0},
		{float32(math.Inf(1)), float32(math.Inf(1))},
		{89, float32(math.Inf(1))},
		{-104, 0},
		{0, 1},
		{-88.5, float32(math.Exp(-88.5))}, // subnormal range, below the |x| >= 88 test
	}
	for _, tt := range specials {
		if got := glibcExpf(tt.x); got != tt.want {
			t.Errorf("glibcExpf(%v) = %v, want %v", tt.x, got, tt.want)
		}
	}
	if nan := glibcExpf(float32(math.NaN())); nan == nan {
		t.Error("glibcExpf(NaN) is not NaN")
	}
	// Elsewhere it is within an ulp of the exact value.
	for x := float32(-100); x < 88; x += 0.0137 {
		e, c := glibcExpf(x), float32(math.Exp(float64(x)))
		if e != c && e != math.Nextafter32(c, 0) && e != math.Nextafter32(c, float32(math.Inf(1))) {
			t.Fatalf("glibcExpf(%v) = %v, exp %v", x, e, c)
		}
	}
}

// ggmlExpfCases are ggml_v_expf's results for SSE2 without FMA (compiled from ggml-cpu.c of Ollama v0.6.5
// with gcc -O2 on x86-64), across the normal, overflow-scaled, subnormal and underflow ranges.
var ggmlExpfCases = []struct{ x, want uint32 }{
	{0x00000000, 0x3f800000}, // 0
	{0x3f800000, 0x402df855}, // 1
	{0xbf800000, 0x3ebc5ab2}, // -1
	{0x3f000000, 0x3fd3094c}, // 0.5
	{0xbe99999a, 0x3f3da644}, // -0.3
	{0x41200000, 0x46ac14f0}, // 10
	{0xc1200000, 0x383e6bce}, // -10
	{0x42b00000, 0x7ef882b7}, // 88
	{0x42b10000, 0x7f4cdcc3}, // 88.5
	{0xc2af0000, 0x006cb2bb}, // -87.5
	{0xc2c80000, 0x0000001b}, // -100
	{0xc2ce0000, 0x00000001}, // -103
	{0xc2d00000, 0x00000000}, // -104
	{0x3a83126f, 0x3f8020c9}, // 0.001
	{0x40490fd0, 0x41b92005}, // 3.14159
	{0xc0b00000, 0x3b85ea52}, // -5.5
	{0x41a00000, 0x4de75844}, // 20
	{0xc1a00000, 0x310da432}, // -20
	{0x33d6bf95, 0x3f800001}, // 1e-07
	{0x42700000, 0x6abcede6}, // 60
}

func TestGGMLExpf(t *testing.T) {
	for _, tt := range ggmlExpfCases {
		x := math.Float32frombits(tt.x)
		if got := math.Float32bits(ggmlExpf(x)); got != tt.want {
			t.Errorf("ggmlExpf(%v) = %#x, ggml %#x", x, got, tt.want)
		}
	}
	if got := ggmlExpf(float32(math.Inf(-1))); got != 0 {
		t.Errorf("ggmlExpf(-Inf) = %v, want 0 (masked attention)", got)
	}
}

// TestGGMLSoftmaxAndSiLU checks the grouping of the portable kernels: softmax sums each group of four as
// (e0+e1)+(e2+e3), and SiLU uses ggml's exponential on full groups of four and glibc's on the rest of a row.
func TestGGMLSoftmaxAndSiLU(t *testing.T) {
	row := []float32{0.3, -1.2, 2.5, 0.7, -0.4, 1.1}
	cp := append([]float32(nil), row...)
	sum := softmaxSumGGML(cp, 2.5)
	var e [8]float32
	for i, x := range row {
		e[i] = ggmlExpf(x - 2.5)
		if cp[i] != e[i] {
			t.Errorf("softmax value %d = %v, want %v", i, cp[i], e[i])
		}
	}
	want := float64(float32(float32(e[0]+e[1])+float32(e[2]+e[3]))) + float64(float32(float32(e[4]+e[5])+float32(e[6]+e[7])))
	if sum != want {
		t.Errorf("sum %v, want %v", sum, want)
	}
	g := []float32{0.5, -2, 3, 0.1, -0.7, 4, 1.5, -3, 0.25, 2} // two rows of 5: one group of 4 and a tail each
	u := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	h := make([]float32, len(g))
	swigluForwardGGML(h, g, u, 5)
	for i, x := range g {
		exp := ggmlExpf(-x)
		if i%5 == 4 {
			exp = glibcExpf(-x)
		}
		if want := float32(x/float32(1+exp)) * u[i]; h[i] != want {
			t.Errorf("silu %d = %v, want %v", i, h[i], want)
		}
		if d := math.Abs(float64(h[i] - silu(x)*u[i])); d > 1e-5*math.Abs(float64(u[i])) {
			t.Errorf("silu %d = %v, far from %v", i, h[i], silu(x)*u[i])
		}
	}
}
