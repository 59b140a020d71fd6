package gguf

import (
	"math"
	"testing"
)

func TestFP32ToFP16(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		name string
		in   float32
		want uint16
	}{
		{"zero", 0, 0x0000},
		{"negative zero", float32(math.Copysign(0, -1)), 0x8000},
		{"one", 1, 0x3C00},
		{"minus two", -2, 0xC000},
		{"third", 1.0 / 3, 0x3555},
		{"max half", 65504, 0x7BFF},
		{"just below overflow tie", 65519.996, 0x7BFF},
		{"overflow tie rounds to even (inf)", 65520, 0x7C00},
		{"large", 1e6, 0x7C00},
		{"inf", float32(math.Inf(1)), 0x7C00},
		{"minus inf", float32(math.Inf(-1)), 0xFC00},
		{"nan", nan, 0x7E00},
		{"negative nan", -nan, 0xFE00},
		{"smallest normal", 0x1p-14, 0x0400},
		{"largest subnormal", 0x3FFp-24, 0x03FF},
		{"smallest subnormal", 0x1p-24, 0x0001},
		{"half of smallest subnormal ties to zero", 0x1p-25, 0x0000},
		{"just above half of smallest subnormal", 0x1.000002p-25, 0x0001},
		{"1.5 subnormal ulps ties to even (2)", 0x3p-25, 0x0002},
		{"2.5 subnormal ulps ties to even (2)", 0x5p-25, 0x0002},
		{"tiny float32 flushes", 1e-30, 0x0000},
		{"float32 subnormal", 1e-40, 0x0000},
		{"1+2^-11 ties to even (down)", 1 + 0x1p-11, 0x3C00},
		{"1+3*2^-11 ties to even (up)", 1 + 3*0x1p-11, 0x3C02},
		{"1+2^-11+2^-23 rounds up", 1 + 0x1p-11 + 0x1p-23, 0x3C01},
		{"2048+1 ties to even", 2049, 0x6800},
		{"2048+3 ties to even", 2051, 0x6802},
		{"negative tie", -(1 + 0x1p-11), 0xBC00},
	}
	for _, tt := range tests {
		if got := FP32ToFP16(tt.in); got != tt.want {
			t.Errorf("%s: FP32ToFP16(%g) = %#04x, want %#04x", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestFP16ToFP32(t *testing.T) {
	tests := []struct {
		in   uint16
		want uint32 // float32 bits
	}{
		{0x0000, 0x00000000},
		{0x8000, 0x80000000},
		{0x3C00, 0x3F800000}, // 1
		{0x7BFF, 0x477FE000}, // 65504
		{0x7C00, 0x7F800000}, // +inf
		{0xFC00, 0xFF800000}, // -inf
		{0x7E00, 0x7FC00000}, // quiet NaN
		{0x7C01, 0x7FC02000}, // signalling NaN: payload kept, made quiet by the float multiply
		{0x0001, 0x33800000}, // 2^-24
		{0x03FF, 0x387FC000}, // largest subnormal
		{0x0400, 0x38800000}, // 2^-14
		{0x8001, 0xB3800000}, // -2^-24
		{0x3555, 0x3EAAA000}, // 0.333251953125
		{0xC000, 0xC0000000}, // -2
	}
	for _, tt := range tests {
		if got := math.Float32bits(FP16ToFP32(tt.in)); got != tt.want {
			t.Errorf("FP16ToFP32(%#04x) = %#08x, want %#08x", tt.in, got, tt.want)
		}
	}
	// Every non-NaN half survives a round trip.
	for h := 0; h < 1<<16; h++ {
		f := FP16ToFP32(uint16(h))
		if f != f {
			continue
		}
		if back := FP32ToFP16(f); back != uint16(h) {
			t.Fatalf("round trip of %#04x gave %#04x", h, back)
		}
	}
}

func TestBF16(t *testing.T) {
	tests := []struct {
		in   uint32 // float32 bits
		want uint16
	}{
		{0x00000000, 0x0000},
		{0x80000000, 0x8000},
		{0x3F800000, 0x3F80}, // 1
		{0x3F808000, 0x3F80}, // tie, even stays
		{0x3F818000, 0x3F82}, // tie, odd rounds up
		{0x3F808001, 0x3F81}, // above tie
		{0x3F807FFF, 0x3F80}, // below tie
		{0x7F7FFFFF, 0x7F80}, // max float rounds to inf
		{0x7F800000, 0x7F80}, // inf
		{0xFF800000, 0xFF80}, // -inf
		{0x7FC00000, 0x7FC0}, // quiet NaN
		{0x7F800001, 0x7FC0}, // signalling NaN is made quiet
		{0xFF800001, 0xFFC0}, // negative signalling NaN
		{0x00000001, 0x0000}, // smallest subnormal rounds to zero
		{0x00008000, 0x0000}, // subnormal tie to even
		{0x00018000, 0x0002}, // subnormal tie to even (up)
		{0x007FFFFF, 0x0080}, // largest subnormal rounds to smallest normal
	}
	for _, tt := range tests {
		f := math.Float32frombits(tt.in)
		if got := FP32ToBF16(f); got != tt.want {
			t.Errorf("FP32ToBF16(%#08x) = %#04x, want %#04x", tt.in, got, tt.want)
		}
	}
	for h := 0; h < 1<<16; h++ {
		if got := math.Float32bits(BF16ToFP32(uint16(h))); got != uint32(h)<<16 {
			t.Fatalf("BF16ToFP32(%#04x) = %#08x", h, got)
		}
	}
}

// TestQ8_0Hand checks Q8_0 blocks worked out by hand from
// quantize_row_q8_0_ref: d = amax/127, q = roundf(x/d) with ties away from
// zero, d stored as fp16.
func TestQ8_0Hand(t *testing.T) {
	tests := []struct {
		name  string
		x     []float32 // first elements; the rest of the block is zero
		wantD uint16
		wantQ []int8
	}{
		{
			// amax 127 gives d = 1, so q = roundf(x): ties go away from zero.
			name:  "unit scale with ties",
			x:     []float32{127, 2.5, -2.5, 0.5, -0.5, 1.5, 126.5, -127, 0.49999997},
			wantD: 0x3C00,
			wantQ: []int8{127, 3, -3, 1, -1, 2, 127, -127, 0},
		},
		{
			// d = 1/127 is stored as fp16 0x2008 (0.0078735...), but the
			// quants use the unrounded float 1/d, so x = 1 maps to 127.
			name:  "scale not representable in fp16",
			x:     []float32{1, -1, 0.5, 0.25},
			wantD: 0x2008,
			wantQ: []int8{127, -127, 64, 32},
		},
		{
			name:  "all zero",
			x:     nil,
			wantD: 0x0000,
			wantQ: nil,
		},
		{
			// amax 254: d = 2, values 1 and 3 are ties (0.5, 1.5 units).
			name:  "scale two",
			x:     []float32{-254, 1, 3, -1, 5},
			wantD: 0x4000,
			wantQ: []int8{-127, 1, 2, -1, 3},
		},
	}
	for _, tt := range tests {
		x := make([]float32, 32)
		copy(x, tt.x)
		b, err := Quantize(TypeQ8_0, x)
		if err != nil {
			t.Fatal(err)
		}
		if d := le.Uint16(b); d != tt.wantD {
			t.Errorf("%s: d = %#04x, want %#04x", tt.name, d, tt.wantD)
		}
		for j := 0; j < 32; j++ {
			var want int8
			if j < len(tt.wantQ) {
				want = tt.wantQ[j]
			}
			if got := int8(b[2+j]); got != want {
				t.Errorf("%s: q[%d] = %d, want %d", tt.name, j, got, want)
			}
		}
		// Dequantizing multiplies by the fp16 d.
		y := make([]float32, 32)
		if err := Dequantize(TypeQ8_0, b, y); err != nil {
			t.Fatal(err)
		}
		d := FP16ToFP32(tt.wantD)
		for j := range y {
			if want := float32(int8(b[2+j])) * d; y[j] != want {
				t.Errorf("%s: y[%d] = %g, want %g", tt.name, j, y[j], want)
			}
		}
	}
}

// TestQ4_0Hand checks a Q4_0 block by hand: d = max/-8 where max is the
// value of largest magnitude, q = min(15, trunc(x/d + 8.5)).
func TestQ4_0Hand(t *testing.T) {
	x := make([]float32, 32)
	x[0] = -8 // max by magnitude: d = 1, id = 1
	x[1] = 7
	x[2] = 7.6 // trunc(16.1) = 16 -> clamped to 15
	x[3] = -0.5
	x[16] = 3
	b, err := Quantize(TypeQ4_0, x)
	if err != nil {
		t.Fatal(err)
	}
	if d := le.Uint16(b); d != 0x3C00 {
		t.Errorf("d = %#04x, want 0x3c00", d)
	}
	// qs[j] packs element j (low nibble) and element j+16 (high nibble).
	// Levels are x/d + 8: -8->0, 7->15, 7.6->15, -0.5->8 (trunc 8.0), 0->8, 3->11.
	want := []byte{0x00 | 11<<4, 15 | 8<<4, 15 | 8<<4, 8 | 8<<4}
	for j, w := range want {
		if b[2+j] != w {
			t.Errorf("qs[%d] = %#02x, want %#02x", j, b[2+j], w)
		}
	}
	y := make([]float32, 32)
	if err := Dequantize(TypeQ4_0, b, y); err != nil {
		t.Fatal(err)
	}
	for i, w := range map[int]float32{0: -8, 1: 7, 2: 7, 3: 0, 4: 0, 16: 3} {
		if y[i] != w {
			t.Errorf("y[%d] = %g, want %g", i, y[i], w)
		}
	}
}
