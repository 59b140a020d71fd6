package llama

import "math"

// glibcSinf and glibcCosf are glibc's sinf and cosf (sysdeps/ieee754/flt-32/s_sinf.c, s_cosf.c and
// sincosf.h, from ARM's optimized-routines) as glibc's x86-64 build selects them on a CPU with FMA
// (__sinf_fma, __cosf_fma: the same code compiled with -mfma, so a·b+c is one fused operation). ggml's
// RoPE computes its rotation table with them, and they are not correctly rounded (about one angle in a
// hundred of a RoPE table differs from float32(math.Sin) by an ulp), so the engine uses them to match the
// runner bit for bit. Inputs are finite; the reduction is exact for any of them.

// sincosfTable is __sincosf_table: [0] for quadrants 0 and 1, [1] for quadrants 2 and 3 (cosine
// coefficients negated).
var sincosfTable = [2]struct {
	sign                           [4]float64
	hpiInv, hpi                    float64
	c0, c1, c2, c3, c4, s1, s2, s3 float64
}{
	{[4]float64{1, -1, -1, 1}, 0x1.45F306DC9C883p+23, 0x1.921FB54442D18p0,
		0x1p0, -0x1.ffffffd0c621cp-2, 0x1.55553e1068f19p-5, -0x1.6c087e89a359dp-10, 0x1.99343027bf8c3p-16,
		-0x1.555545995a603p-3, 0x1.1107605230bc4p-7, -0x1.994eb3774cf24p-13},
	{[4]float64{1, -1, -1, 1}, 0x1.45F306DC9C883p+23, 0x1.921FB54442D18p0,
		-0x1p0, 0x1.ffffffd0c621cp-2, -0x1.55553e1068f19p-5, 0x1.6c087e89a359dp-10, -0x1.99343027bf8c3p-16,
		-0x1.555545995a603p-3, 0x1.1107605230bc4p-7, -0x1.994eb3774cf24p-13},
}

// invPio4 is __inv_pio4: 4/π in 192 bits, as overlapping 32-bit windows.
var invPio4 = [24]uint32{
	0xa2, 0xa2f9, 0xa2f983, 0xa2f9836e,
	0xf9836e4e, 0x836e4e44, 0x6e4e4415, 0x4e441529,
	0x441529fc, 0x1529fc27, 0x29fc2757, 0xfc2757d1,
	0x2757d1f5, 0x57d1f534, 0xd1f534dd, 0xf534ddc0,
	0x34ddc0db, 0xddc0db62, 0xc0db6295, 0xdb629599,
	0x6295993c, 0x95993c43, 0x993c4390, 0x3c439041,
}

// abstop12 is the top 12 bits of |x| (exponent and sign dropped).
func abstop12(x float32) uint32 { return math.Float32bits(x) >> 20 & 0x7ff }

// sinfPoly evaluates sin (n even) or cos (n odd) of the reduced x, x2 = x², with table t.
func sinfPoly(x, x2 float64, t int, n int) float32 {
	p := &sincosfTable[t]
	if n&1 == 0 {
		x3 := x * x2
		s1 := math.FMA(x2, p.s3, p.s2)
		x7 := x3 * x2
		s := math.FMA(x3, p.s1, x)
		return float32(math.FMA(x7, s1, s))
	}
	x4 := x2 * x2
	c2 := math.FMA(x2, p.c4, p.c3)
	c1 := math.FMA(x2, p.c1, p.c0)
	x6 := x4 * x2
	c := math.FMA(x4, p.c2, c1)
	return float32(math.FMA(x6, c2, c))
}

// reduceFast reduces |x| < 120 to [−π/4, π/4] and returns it with its quadrant.
func reduceFast(x float64) (float64, int) {
	p := &sincosfTable[0]
	r := x * p.hpiInv
	n := int((int32(r) + 0x800000) >> 24)
	return math.FMA(-float64(n), p.hpi, x), n
}

// reduceLarge reduces the float32 with bits xi (sign ignored, magnitude ≥ 2) to [−π/4, π/4] with integer
// arithmetic on 4/π and returns it with its quadrant.
func reduceLarge(xi uint32) (float64, int) {
	const pi63 = 0x1.921FB54442D18p-62
	arr := invPio4[(xi>>26)&15:]
	shift := (xi >> 23) & 7
	xi = (xi & 0xffffff) | 0x800000
	xi <<= shift
	res0 := uint64(xi * arr[0])
	res1 := uint64(xi) * uint64(arr[4])
	res2 := uint64(xi) * uint64(arr[8])
	res0 = (res2 >> 32) | (res0 << 32)
	res0 += res1
	n := (res0 + 1<<61) >> 62
	res0 -= n << 62
	return float64(int64(res0)) * pi63, int(n)
}

// sincosfQuadrant reduces y and returns the reduced value with its sign applied, its square, the table and
// the quadrant, for |y| ≥ π/4.
func sincosfQuadrant(y float32) (x, x2 float64, t, n int) {
	if abstop12(y) < abstop12(120) {
		x, n = reduceFast(float64(y))
	} else {
		xi := math.Float32bits(y)
		x, n = reduceLarge(xi)
		n += int(xi >> 31) // include the sign
	}
	s := sincosfTable[0].sign[n&3]
	if n&2 != 0 {
		t = 1
	}
	return x * s, x * x, t, n
}

const pio4f = float32(0x1.921FB6p-1)

// glibcSinf is glibc's sinf (see above) for finite y.
func glibcSinf(y float32) float32 {
	if abstop12(y) < abstop12(pio4f) {
		if abstop12(y) < abstop12(0x1p-12) {
			return y
		}
		x := float64(y)
		return sinfPoly(x, x*x, 0, 0)
	}
	x, x2, t, n := sincosfQuadrant(y)
	return sinfPoly(x, x2, t, n)
}

// glibcCosf is glibc's cosf (see above) for finite y.
func glibcCosf(y float32) float32 {
	if abstop12(y) < abstop12(pio4f) {
		if abstop12(y) < abstop12(0x1p-12) {
			return 1
		}
		x := float64(y)
		return sinfPoly(x, x*x, 0, 1)
	}
	x, x2, t, n := sincosfQuadrant(y)
	return sinfPoly(x, x2, t, n^1)
}
