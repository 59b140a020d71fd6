package llama

import "math"

// glibcExpf is glibc's expf (sysdeps/ieee754/flt-32/e_expf.c, from ARM's optimized-routines), bit for bit: the
// runner's silu and softmax call it, and it is not correctly rounded (about one input in 13,000 differs
// from float32(math.Exp) by an ulp), so using it keeps the engine's activations identical to the runner's.
// exp(x) = 2^(k/32)·2^(r/32) with k = round(x·32/ln2), a 32-entry table for 2^(k/32) and a cubic for the
// rest, evaluated in float64.
func glibcExpf(x float32) float32 {
	if abstop := math.Float32bits(x) >> 20 & 0x7ff; abstop >= 0x42b { // |x| >= 88, inf or NaN
		switch {
		case x == float32(math.Inf(-1)):
			return 0
		case abstop >= 0x7f8: // inf or NaN
			return x + x
		case x > 0x1.62e42ep6: // overflow
			return float32(math.Inf(1))
		case x < -0x1.9fe368p6: // underflow
			return 0
		}
	}
	xd := float64(x)
	z := float64(expfInvLn2N * xd)
	kd := float64(z + expfShift) // round to nearest integer, ties to even
	ki := math.Float64bits(kd)
	kd = float64(kd - expfShift)
	r := float64(z - kd)
	s := math.Float64frombits(expfTab[ki%expfN] + ki<<(52-expfBits))
	p := float64(expfC0*r) + expfC1
	y := float64(expfC2*r) + 1
	y = float64(p*float64(r*r)) + y
	return float32(float64(y * s))
}

const (
	expfBits    = 5
	expfN       = 1 << expfBits
	expfInvLn2N = 0x1.71547652b82fep+0 * expfN
	expfShift   = 0x1.8p+52
	expfC0      = 0x1.c6af84b912394p-5 / expfN / expfN / expfN
	expfC1      = 0x1.ebfce50fac4f3p-3 / expfN / expfN
	expfC2      = 0x1.62e42ff0c52d6p-1 / expfN
)

// expfTab[i] is the bits of 2^(i/32) minus i<<47, so that adding k<<47 for k = i mod 32 scales it by 2^(k/32)
// (glibc's __exp2f_data.tab).
var expfTab = func() (t [expfN]uint64) {
	for i := range t {
		t[i] = math.Float64bits(math.Exp2(float64(i)/expfN)) - uint64(i)<<(52-expfBits)
	}
	return t
}()

// ggmlExpf is one lane of ggml_v_expf as compiled for SSE2 without FMA (every multiply and add rounded
// apart), the exponential the runner's SiLU and softmax use for each full group of four values (glibc's expf
// takes the leftovers). It is ARM's optimized-routines expf in float32: e^x = 2^n·(1 + j) with n = round(x/ln2)
// and a degree-5 polynomial j, with special scaling where |n| > 126.
func ggmlExpf(x float32) float32 {
	const r = 0x1.8p23
	z := float32(float32(x*0x1.715476p+0) + r)
	n := float32(z - r)
	b := float32(x - float32(n*0x1.62e4p-1))
	b = float32(b - float32(n*0x1.7f7d1cp-20))
	e := math.Float32bits(z) << 23
	k := math.Float32frombits(e + math.Float32bits(1))
	u := float32(b * b)
	t1 := float32(float32(0x1.0e4020p-7*b) + 0x1.573e2ep-5)
	t2 := float32(float32(0x1.555e66p-3*b) + 0x1.fffdb6p-2)
	t3 := float32(float32(t1*u) + t2)
	j := float32(float32(t3*u) + float32(0x1.ffffecp-1*b))
	an := float32(math.Abs(float64(n)))
	if !(an > 126) {
		return float32(float32(j*k) + k)
	}
	var g uint32
	if n <= 0 {
		g = 0x82000000
	}
	s1 := math.Float32frombits(g + 0x7f000000)
	if an > 192 {
		return s1 * s1
	}
	s2 := math.Float32frombits(e - g)
	return float32(float32(float32(s2*j)+s2) * s1)
}
