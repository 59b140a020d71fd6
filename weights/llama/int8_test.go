package llama

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/fastslow/fastslow/weights/gguf"
)

// TestInt8Layout pins the packed activation layouts the assembly kernels read.
func TestInt8Layout(t *testing.T) {
	var k int8KBlock
	var b int8Block
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"int8KBlock.qs", unsafe.Offsetof(k.qs), 0},
		{"int8KBlock.bsums", unsafe.Offsetof(k.bsums), 256},
		{"int8KBlock.d", unsafe.Offsetof(k.d), 288},
		{"sizeof int8KBlock", unsafe.Sizeof(k), 292},
		{"int8Block.qs", unsafe.Offsetof(b.qs), 0},
		{"int8Block.d", unsafe.Offsetof(b.d), 32},
		{"sizeof int8Block", unsafe.Sizeof(b), 36},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
}

// int8Activations returns n·in random activations whose blocks of 256 take magnitudes from tiny to huge,
// with a block of zeros, a block of equal values and exact ties of the rounding.
func int8Activations(rng *rand.Rand, n, in int) []float32 {
	x := make([]float32, n*in)
	scales := []float64{1, 1e-3, 1e3, 1e-30, 1e30, 3e38, 1e-42, 0.5}
	for b := 0; b < len(x)/256; b++ {
		xb := x[b*256 : b*256+256]
		s := scales[rng.IntN(len(scales))]
		switch rng.IntN(10) {
		case 0:
			continue // zeros
		case 1:
			for i := range xb {
				xb[i] = float32(s)
			}
			continue
		case 2: // halves of the grid: ties for nearest_int and roundf
			for i := range xb {
				xb[i] = float32(rng.IntN(255)-127) / 2
			}
			xb[rng.IntN(256)] = 127
			continue
		}
		for i := range xb {
			xb[i] = float32(rng.NormFloat64() * s)
		}
	}
	return x
}

// fp16Extremes are scales a weight block may carry: zero, both signs, the largest and the smallest
// (subnormal) float16 values.
var fp16Extremes = []uint16{0x0000, 0x8000, 0x3c00, 0xbc00, 0x7bff, 0xfbff, 0x0001, 0x8001, 0x0400, 0x2e66, 0x1400}

// int8RandomRows returns out random rows of typ with in values: random bytes, with the fp16 scale fields set
// to random or extreme values.
func int8RandomRows(rng *rand.Rand, typ gguf.Type, in, out int) []byte {
	f := quantFormats[typ]
	raw := make([]byte, in/f.block*f.bytes*out)
	for i := range raw {
		raw[i] = byte(rng.Uint32())
	}
	var offs []int
	switch typ {
	case gguf.TypeQ4_K, gguf.TypeQ5_K:
		offs = []int{0, 2}
	case gguf.TypeQ6_K:
		offs = []int{208}
	default:
		offs = []int{0}
	}
	for b := 0; b < len(raw); b += f.bytes {
		for _, o := range offs {
			h := uint16(rng.Uint32()&0x3fff) | 0x0400 // finite, not NaN or Inf
			if rng.IntN(3) == 0 {
				h = fp16Extremes[rng.IntN(len(fp16Extremes))]
			}
			raw[b+o], raw[b+o+1] = byte(h), byte(h>>8)
		}
	}
	return raw
}

// sameFloat reports whether a and b are the same float32, or both NaN.
func sameFloat(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || a != a && b != b
}

// TestPackQ8 checks the packed quantizers against quantizeQ8_K and quantizeQ8_0.
func TestPackQ8(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 8))
	x := int8Activations(rng, 4, 1024)
	k := make([]int8KBlock, len(x)/256)
	packQ8K(k, x)
	for b, want := range quantizeQ8_K(x) {
		if got := unpackQ8K(&k[b]); got != want {
			t.Fatalf("Q8_K block %d: %+v, want %+v", b, got, want)
		}
	}
	z := make([]int8Block, len(x)/32)
	packQ8_0(z, x)
	for b, want := range quantizeQ8_0(x, false) {
		if z[b].qs != want.qs || !sameFloat(z[b].d, want.d) {
			t.Fatalf("Q8_0 block %d: %+v, want %+v", b, z[b], want)
		}
	}
}

// TestInt8Kernels checks every int8 kernel this CPU runs against the portable port of its product
// (dotQ8_K, dotQ8_0), bit for bit, on random blocks with extreme scales, for 1 to 5 activation rows.
func TestInt8Kernels(t *testing.T) {
	if len(int8KKernels)+len(int8Kernels) == 0 {
		t.Skip("no int8 kernels on this CPU")
	}
	rng := rand.New(rand.NewPCG(15, 9))
	const in, out = 1024, 24
	for _, typ := range QuantizedTypes() {
		kk, k0 := int8KKernels[typ], int8Kernels[typ]
		if kk == nil && k0 == nil {
			continue
		}
		t.Run(typ.String(), func(t *testing.T) {
			f := quantFormats[typ]
			raw := int8RandomRows(rng, typ, in, out)
			q := &quantMatrix{typ: typ, in: in, out: out, raw: raw, rowBytes: in / f.block * f.bytes, blockBytes: f.bytes, act: f.act}
			for nx := 1; nx <= 5; nx++ {
				x := int8Activations(rng, nx, in)
				y := make([]float32, nx*2)
				for o := range out {
					row := raw[o*q.rowBytes : (o+1)*q.rowBytes]
					if kk != nil {
						act := make([]int8KBlock, nx*in/256)
						packQ8K(act, x)
						kk(&y[0], 2, &row[0], &act[0], in/256, nx)
					} else {
						act := make([]int8Block, nx*in/32)
						packQ8_0(act, x)
						k0(&y[0], 2, &row[0], &act[0], in/32, nx)
					}
					for r := range nx {
						xr := x[r*in : (r+1)*in]
						var want float32
						if kk != nil {
							want = q.dotQ8_K(row, quantizeQ8_K(xr))
						} else {
							want = q.dotQ8_0(row, quantizeQ8_0(xr, false))
						}
						if !sameFloat(y[2*r], want) {
							t.Fatalf("%d rows, weight row %d, activation row %d: %v (%#x), port %v (%#x)",
								nx, o, r, y[2*r], math.Float32bits(y[2*r]), want, math.Float32bits(want))
						}
					}
				}
			}
		})
	}
}

// TestInt8Products checks mulInt8 (packing, tiling, both threads) against the portable rows of mul.
func TestInt8Products(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 10))
	for _, typ := range QuantizedTypes() {
		if int8KKernels[typ] == nil && int8Kernels[typ] == nil {
			continue
		}
		t.Run(typ.String(), func(t *testing.T) {
			const in, out, n = 512, 70, 37
			q, _ := randomQuant(t, rng, typ, in, out)
			x := int8Activations(rng, n, in)
			y := make([]float32, n*out)
			defer func(b int) { int8ActBytes = b }(int8ActBytes)
			int8ActBytes = 5 * in // runs of a few rows
			if !q.mulInt8(y, x, n) {
				t.Fatal("mulInt8 declined a type with a kernel")
			}
			for r := range n {
				xr := x[r*in : (r+1)*in]
				for o := range out {
					row := q.raw[o*q.rowBytes : (o+1)*q.rowBytes]
					var want float32
					if q.act == actQ8_K {
						want = q.dotQ8_K(row, quantizeQ8_K(xr))
					} else {
						want = q.dotQ8_0(row, quantizeQ8_0(xr, false))
					}
					if !sameFloat(y[r*out+o], want) {
						t.Fatalf("row %d out %d: %v, port %v", r, o, y[r*out+o], want)
					}
				}
			}
		})
	}
}

// TestInt8Precision checks Precision.Int8 on a model whose matrices all have an int8 kernel: its logits,
// log-likelihood and hidden states, with and without a LoRA adapter, on the encoded base and decode-first,
// equal those of Precision.Quantized (the ports) bit for bit, and differ from the float32 products'.
func TestInt8Precision(t *testing.T) {
	types := Int8Types()
	if len(types) == 0 {
		t.Skip("no int8 kernels on this CPU")
	}
	for _, typ := range types {
		t.Run(typ.String(), func(t *testing.T) {
			c := Config{Vocab: 300, Dim: 256, Hidden: 512, Layers: 2, Heads: 4, KVHeads: 2, ContextLength: 32,
				RopeBase: 10000, NormEps: 1e-5}
			dm, em := encodedPair(t, c, func(string) gguf.Type { return typ })
			toks := []int32{1, 17, 250, 3, 99, 4, 5, 180, 7, 8, 2, 44}
			cfg := LoRAConfig{Rank: 4, Alpha: 8, Targets: linearNames[:]}
			a, err := NewAdapter(em, cfg, 5)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range a.Params() {
				for i := range p.Data {
					p.Data[i] = 0.01 * float32(i%7-3) // B too, so that the branch contributes
				}
			}
			logits := func(m *Model, pr Precision, a *Adapter) []float32 {
				m.Precision = pr
				z, err := m.Logits(toks, a)
				if err != nil {
					t.Fatal(err)
				}
				return z
			}
			for _, ad := range []*Adapter{nil, a} {
				want := logits(em, Precision{Quantized: true, KVCacheF16: true}, ad)
				plain := logits(em, Precision{KVCacheF16: true}, ad)
				for _, m := range []*Model{em, dm} {
					got := logits(m, Precision{Int8: true, KVCacheF16: true}, ad)
					same := true
					for i := range want {
						if !sameFloat(got[i], want[i]) {
							t.Fatalf("adapter %v: logit %d: Int8 %v, Quantized %v", ad != nil, i, got[i], want[i])
						}
						same = same && got[i] == plain[i]
					}
					if same {
						t.Fatal("Int8 logits equal the float32 products': the int8 path did not run")
					}
				}
			}
			em.Precision = Precision{Int8: true}
			got, _, err := em.LogLikelihood(toks[:3], toks[3:], nil)
			if err != nil {
				t.Fatal(err)
			}
			em.Precision = Precision{Quantized: true}
			want, _, _ := em.LogLikelihood(toks[:3], toks[3:], nil)
			if math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("log-likelihood: Int8 %v, Quantized %v", got, want)
			}
		})
	}
}
