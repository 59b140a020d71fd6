package gguf

import (
	"math"
	"testing"
)

// TestQuantizeError checks the quantize-dequantize error on Gaussian-like
// data against bounds a few times above what the formats achieve, so a
// packing mistake in any sub-block shows up even without golden files.
func TestQuantizeError(t *testing.T) {
	x := gaussian(16*256, 7)
	tests := []struct {
		typ    Type
		maxRMS float64 // RMS error relative to the RMS of x
	}{
		{TypeF16, 0.001},
		{TypeBF16, 0.005},
		{TypeQ8_0, 0.01},
		{TypeQ6_K, 0.03},
		{TypeQ5_0, 0.06},
		{TypeQ5_1, 0.06},
		{TypeQ5_K, 0.06},
		{TypeQ4_0, 0.12},
		{TypeQ4_1, 0.12},
		{TypeQ4_K, 0.12},
		{TypeQ3_K, 0.25},
		{TypeQ2_K, 0.45},
	}
	for _, tt := range tests {
		b, err := Quantize(tt.typ, x)
		if err != nil {
			t.Fatal(err)
		}
		if uint64(len(b)) != tt.typ.RowBytes(uint64(len(x))) {
			t.Fatalf("%s: %d bytes, want %d", tt.typ, len(b), tt.typ.RowBytes(uint64(len(x))))
		}
		y := make([]float32, len(x))
		if err := Dequantize(tt.typ, b, y); err != nil {
			t.Fatal(err)
		}
		var se, sx float64
		for i := range x {
			d := float64(y[i] - x[i])
			se += d * d
			sx += float64(x[i]) * float64(x[i])
		}
		rel := math.Sqrt(se / sx)
		t.Logf("%-5s relative RMS error %.4f", tt.typ, rel)
		if rel > tt.maxRMS {
			t.Errorf("%s: relative RMS error %.4f > %.4f", tt.typ, rel, tt.maxRMS)
		}
	}
}

// TestQ8_0ErrorBound checks every element against the exact Q8_0 bound: half
// a quantization step plus the error of storing d in fp16.
func TestQ8_0ErrorBound(t *testing.T) {
	x := gaussian(64*32, 3)
	b, err := Quantize(TypeQ8_0, x)
	if err != nil {
		t.Fatal(err)
	}
	y := make([]float32, len(x))
	if err := Dequantize(TypeQ8_0, b, y); err != nil {
		t.Fatal(err)
	}
	for blk := 0; blk < len(x)/32; blk++ {
		var amax float64
		for _, v := range x[blk*32 : (blk+1)*32] {
			amax = math.Max(amax, math.Abs(float64(v)))
		}
		d := amax / 127
		bound := d/2 + 127*d*0x1p-11 + 1e-6*amax
		for i := blk * 32; i < (blk+1)*32; i++ {
			if e := math.Abs(float64(y[i] - x[i])); e > bound {
				t.Fatalf("element %d: error %g > bound %g", i, e, bound)
			}
		}
	}
}

func TestQuantizeErrors(t *testing.T) {
	if _, err := Quantize(TypeQ4_K, make([]float32, 100)); err == nil {
		t.Error("Q4_K of 100 elements succeeded")
	}
	if _, err := Quantize(TypeIQ4_NL, make([]float32, 32)); err == nil {
		t.Error("IQ4_NL quantization succeeded")
	}
	inf := float32(math.Inf(1))
	if _, err := Quantize(TypeQ6_K, append(make([]float32, 255), inf)); err == nil {
		t.Error("Q6_K of +Inf succeeded")
	}
	// Plain float types keep non-finite values.
	if b, err := Quantize(TypeF16, []float32{inf}); err != nil || le.Uint16(b) != 0x7C00 {
		t.Errorf("F16 of +Inf = %x, %v", b, err)
	}
	if err := Dequantize(TypeQ8_0, make([]byte, 33), make([]float32, 32)); err == nil {
		t.Error("Dequantize with short data succeeded")
	}
	if err := Dequantize(TypeQ8_0, nil, make([]float32, 31)); err == nil {
		t.Error("Dequantize of a partial block succeeded")
	}
	if err := Dequantize(TypeIQ2_XS, make([]byte, 66), make([]float32, 256)); err == nil {
		t.Error("Dequantize of IQ2_XS succeeded")
	}
}

// TestQuantizeDegenerate runs blocks that stress the special cases of the
// quantizers (all zero, constant, tiny subnormal scales, one sign) and
// checks that nothing becomes NaN and constants stay close.
func TestQuantizeDegenerate(t *testing.T) {
	blocks := map[string]func(i int) float32{
		"zero":     func(int) float32 { return 0 },
		"constant": func(int) float32 { return -3 },
		"tiny":     func(i int) float32 { return float32(i%3-1) * 1e-42 },
		"positive": func(i int) float32 { return float32(i%17) + 1 },
		"spike":    func(i int) float32 { return float32(boolByte(i == 77)) * 1e4 },
	}
	for _, typ := range []Type{TypeQ4_0, TypeQ4_1, TypeQ5_0, TypeQ5_1, TypeQ8_0, TypeQ2_K, TypeQ3_K, TypeQ4_K, TypeQ5_K, TypeQ6_K} {
		for name, f := range blocks {
			x := make([]float32, 256)
			for i := range x {
				x[i] = f(i)
			}
			b, err := Quantize(typ, x)
			if err != nil {
				t.Fatalf("%s/%s: %v", typ, name, err)
			}
			y := make([]float32, 256)
			if err := Dequantize(typ, b, y); err != nil {
				t.Fatal(err)
			}
			for i, v := range y {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("%s/%s: y[%d] = %v", typ, name, i, v)
				}
				if name == "zero" && v != 0 {
					t.Fatalf("%s/zero: y[%d] = %v", typ, i, v)
				}
			}
		}
	}
}

// gaussian returns n deterministic approximately normal values.
func gaussian(n int, seed uint64) []float32 {
	u := testData(2*n, seed)
	out := make([]float32, n)
	for i := range out {
		u1 := math.Abs(float64(u[2*i])) + 1e-9
		u1 = math.Mod(u1, 1) + 1e-9
		out[i] = float32(math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*float64(u[2*i+1])))
	}
	return out
}
