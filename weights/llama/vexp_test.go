package llama

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// vexpUlps returns how many float32 steps got is from the correctly rounded want.
func vexpUlps(got float32, want float64) float64 {
	w := float32(want)
	if got == w {
		return 0
	}
	step := math.Abs(float64(math.Nextafter32(w, float32(math.Inf(1)))) - float64(w))
	if w == 0 || step == 0 {
		step = math.SmallestNonzeroFloat32
	}
	return math.Abs(float64(got)-want) / step
}

// vexpCases are the inputs every exponential must get right: a sweep of the finite range, both ends of it,
// and the special values.
func vexpCases() []float32 {
	xs := []float32{0, -0, 1, -1, 0.5, 88.7, 88.8, -87.3, -103.9, -104, -150, 100, 1e-10, -1e-10,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), math.MaxFloat32, -math.MaxFloat32}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 20000 {
		xs = append(xs, float32(rng.Float64()*192-103))
	}
	for range 2000 {
		xs = append(xs, float32(rng.NormFloat64()*2))
	}
	return xs
}

func checkVexp(t *testing.T, name string, xs, got []float32) {
	t.Helper()
	for i, x := range xs {
		want := math.Exp(float64(x))
		switch {
		case math.IsNaN(float64(x)):
			if !math.IsNaN(float64(got[i])) {
				t.Fatalf("%s(NaN) = %v", name, got[i])
			}
		case want < 0x1p-126:
			// Subnormal results: ggml's routine flushes them towards zero; only the size matters.
			if got[i] < 0 || float64(got[i]) > 0x1p-125 {
				t.Fatalf("%s(%v) = %v, want about %v", name, x, got[i], want)
			}
		case want > math.MaxFloat32:
			if !math.IsInf(float64(got[i]), 1) {
				t.Fatalf("%s(%v) = %v, want +Inf", name, x, got[i])
			}
		default:
			if u := vexpUlps(got[i], want); u > 2 {
				t.Fatalf("%s(%v) = %v, want %v (%.1f ulp)", name, x, got[i], want, u)
			}
		}
	}
}

// TestExp checks the Go and the assembly exponential against math.Exp: within 2 ulp over the finite range,
// +Inf above it, (nearly) zero below it, NaN for NaN.
func TestVexp(t *testing.T) {
	xs := vexpCases()
	got := make([]float32, len(xs))
	for i, x := range xs {
		got[i] = vexpf(x)
	}
	checkVexp(t, "vexpf", xs, got)
	defer func(v bool) { useAVX2 = v }(useAVX2)
	for _, asm := range []bool{false, true} {
		useAVX2 = asm && useAVX2
		clear(got)
		expSlice(got, xs)
		checkVexp(t, fmt.Sprintf("expSlice(asm=%v)", useAVX2), xs, got)
	}
}

// TestVexpSliceSplit checks that an element's result does not depend on where the slice starts or ends, so
// that work split between goroutines gives identical results.
func TestVexpSliceSplit(t *testing.T) {
	xs := vexpCases()[:1000]
	whole := make([]float32, len(xs))
	expSlice(whole, xs)
	for _, cut := range []int{1, 3, 7, 8, 9, 500, 999} {
		parts := make([]float32, len(xs))
		expSlice(parts[:cut], xs[:cut])
		expSlice(parts[cut:], xs[cut:])
		for i := range xs {
			if math.Float32bits(parts[i]) != math.Float32bits(whole[i]) {
				t.Fatalf("cut %d: element %d is %v split, %v whole", cut, i, parts[i], whole[i])
			}
		}
	}
	for n := range 20 { // every tail length, in place
		s := slices.Clone(xs[:n])
		expSlice(s, s)
		for i := range s {
			if math.Float32bits(s[i]) != math.Float32bits(whole[i]) {
				t.Fatalf("length %d in place: element %d is %v, %v whole", n, i, s[i], whole[i])
			}
		}
	}
}

// TestVecLayers checks the fused element-wise layers built on expSlice against the math.Exp versions.
func TestVecLayers(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const n = 3000
	g, u, dh := randSlice(rng, n), randSlice(rng, n), randSlice(rng, n)
	for i := range g {
		g[i] *= 4
	}
	h1, h2 := make([]float32, n), make([]float32, n)
	swigluForward(h1, g, u)
	swigluForwardVec(h2, g, u)
	closeAll(t, "swiglu forward", h2, h1, 1e-6)
	dg1, du1, dg2, du2 := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	swigluBackward(dg1, du1, dh, g, u)
	swigluBackwardVec(dg2, du2, dh, g, u)
	closeAll(t, "swiglu backward dg", dg2, dg1, 1e-6)
	closeAll(t, "swiglu backward du", du2, du1, 1e-6)

	for _, width := range []int{1, 5, 8, 100, 2048} {
		z := randSlice(rng, width)
		for i := range z {
			z[i] *= 5
		}
		target := width / 2
		want := crossEntropy(nil, slices.Clone(z), target)
		if got := crossEntropyVec(nil, z, target); math.Abs(got-want) > 1e-5*max(1, math.Abs(want)) {
			t.Errorf("crossEntropyVec width %d = %v, want %v", width, got, want)
		}
		g1, g2 := slices.Clone(z), slices.Clone(z)
		l1 := crossEntropy(g1, g1, target)
		l2 := crossEntropyVec(g2, g2, target)
		if math.Abs(l1-l2) > 1e-5*max(1, math.Abs(l1)) {
			t.Errorf("crossEntropyVec with gradient, width %d = %v, want %v", width, l2, l1)
		}
		closeAll(t, "cross-entropy gradient", g2, g1, 1e-6)

		s := slices.Clone(z)
		mx, inv := softmaxRow(s, 0.5)
		var sum float64
		wantMx := float32(math.Inf(-1))
		for _, v := range z {
			wantMx = max(wantMx, v*0.5)
		}
		for _, v := range z {
			sum += math.Exp(float64(v*0.5 - wantMx))
		}
		for j, v := range z {
			want := math.Exp(float64(v*0.5-wantMx)) / sum
			if math.Abs(float64(s[j])-want) > 1e-6 {
				t.Fatalf("softmaxRow width %d: p[%d] = %v, want %v", width, j, s[j], want)
			}
		}
		r := slices.Clone(z)
		softmaxRebuild(r, 0.5, mx, inv)
		if !slices.Equal(r, s) {
			t.Errorf("softmaxRebuild width %d differs from softmaxRow", width)
		}
	}
}

// closeAll fails unless got[i] is within tol of want[i], relative to max(1, |want[i]|).
func closeAll(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	for i := range want {
		if d := math.Abs(float64(got[i]) - float64(want[i])); d > tol*max(1, math.Abs(float64(want[i]))) {
			t.Fatalf("%s[%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

func BenchmarkVexp(b *testing.B) {
	xs := make([]float32, 4096)
	for i := range xs {
		xs[i] = float32(i%200) * -0.05
	}
	dst := make([]float32, len(xs))
	b.Run("expSlice", func(b *testing.B) {
		for b.Loop() {
			expSlice(dst, xs)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(xs)), "ns/value")
	})
	b.Run("math.Exp", func(b *testing.B) {
		for b.Loop() {
			for i, x := range xs {
				dst[i] = float32(math.Exp(float64(x)))
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(xs)), "ns/value")
	})
}

// TestVecLayersSplit checks that the fused layers give bit-identical results however parallelChunks splits
// the work, including splits that leave tails shorter than a vector.
func TestVecLayersSplit(t *testing.T) {
	defer func(e int) { elementGrain = e }(elementGrain)
	rng := rand.New(rand.NewPCG(13, 14))
	const n = 1003
	g, u, dh := randSlice(rng, n), randSlice(rng, n), randSlice(rng, n)
	run := func(grain int) (h, dg, du []float32) {
		elementGrain = grain
		h, dg, du = make([]float32, n), make([]float32, n), make([]float32, n)
		swigluForwardVec(h, g, u)
		swigluBackwardVec(dg, du, dh, g, u)
		return h, dg, du
	}
	h1, dg1, du1 := run(1 << 20)
	for _, grain := range []int{1, 5, 333} {
		h2, dg2, du2 := run(grain)
		for i := range n {
			if math.Float32bits(h1[i]) != math.Float32bits(h2[i]) || math.Float32bits(dg1[i]) != math.Float32bits(dg2[i]) ||
				math.Float32bits(du1[i]) != math.Float32bits(du2[i]) {
				t.Fatalf("grain %d: element %d differs", grain, i)
			}
		}
	}
}
