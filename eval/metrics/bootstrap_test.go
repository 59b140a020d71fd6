package metrics

import (
	"math"
	"testing"
)

func TestFisherExact(t *testing.T) {
	// Reference p-values from R's fisher.test (two-sided).
	for _, c := range []struct {
		a, b, c, d int
		p          float64
	}{
		{3, 1, 1, 3, 0.4857142857},  // Fisher's tea-tasting lady
		{1, 9, 11, 3, 0.0027594561}, // R's documentation example
		{0, 5, 5, 0, 0.0079365079},
		{2, 2, 2, 2, 1},
		{0, 0, 0, 0, 1},
		{10, 0, 0, 0, 1},
	} {
		p, err := FisherExact(c.a, c.b, c.c, c.d)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(p-c.p) > 1e-8 {
			t.Errorf("FisherExact(%d %d; %d %d) = %.10f, want %.10f", c.a, c.b, c.c, c.d, p, c.p)
		}
	}
	if _, err := FisherExact(-1, 0, 0, 0); err == nil {
		t.Error("negative count accepted")
	}
}

func TestBootstrap(t *testing.T) {
	low := []float64{0.01, 0.02, 0.00, 0.03, 0.01, 0.02, 0.01, 0.00, 0.02, 0.01}
	high := []float64{0.30, 0.35, 0.28, 0.40, 0.33, 0.31, 0.29, 0.36, 0.34, 0.30}
	noisy := []float64{0.30, -0.20, 0.10, 0.25, -0.15, 0.05, -0.30, 0.20, 0.00, -0.10}
	for _, c := range []struct {
		name string
		iv   func() (Interval, error)
		want string
		est  float64
	}{
		{"high minus low", func() (Interval, error) { return BootstrapDiff(high, low, true, 1) }, Yes, 0.313},
		{"low minus high", func() (Interval, error) { return BootstrapDiff(low, high, false, 1) }, No, -0.313},
		{"noisy mean", func() (Interval, error) { return BootstrapMean(noisy, 1) }, Inconclusive, 0.015},
		{"ratio high/low", func() (Interval, error) { return BootstrapRatio(high, low, true, 1) }, Yes, 0.326 / 0.013},
	} {
		iv, err := c.iv()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := Decide(iv); got != c.want {
			t.Errorf("%s: Decide(%v) = %s, want %s", c.name, iv, got, c.want)
		}
		if math.Abs(iv.Estimate-c.est) > 1e-9 || !(iv.Lo <= iv.Estimate && iv.Estimate <= iv.Hi) {
			t.Errorf("%s: %v: estimate want %g, inside its interval", c.name, iv, c.est)
		}
		if iv.N != 10 {
			t.Errorf("%s: N = %d", c.name, iv.N)
		}
	}
	// Constant data: the interval collapses to the value.
	iv, err := BootstrapMean([]float64{0.5, 0.5, 0.5}, 7)
	if err != nil || iv.Lo != 0.5 || iv.Hi != 0.5 || !iv.Bounded {
		t.Errorf("constant: %v, %v", iv, err)
	}
	// A ratio whose denominator is often zero cannot be bounded.
	iv, err = BootstrapRatio([]float64{0.1, 0.2, 0.3}, []float64{0, 0, 0.1}, false, 1)
	if err != nil || iv.Bounded || Decide(iv) != Inconclusive {
		t.Errorf("zero denominators: %v, %v", iv, err)
	}
	// Same seed, same interval.
	a, _ := BootstrapMean(noisy, 3)
	b, _ := BootstrapMean(noisy, 3)
	if a != b {
		t.Errorf("not reproducible: %v vs %v", a, b)
	}
	for name, f := range map[string]func() (Interval, error){
		"empty":    func() (Interval, error) { return BootstrapMean(nil, 1) },
		"nan":      func() (Interval, error) { return BootstrapMean([]float64{math.NaN()}, 1) },
		"unpaired": func() (Interval, error) { return BootstrapDiff(low, low[:3], true, 1) },
	} {
		if _, err := f(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestIntervalClip(t *testing.T) {
	iv := Interval{Estimate: 0.98, Lo: 0.9, Hi: 1.06, Bounded: true}.Clip(0, 1)
	if iv.Hi != 1 || iv.Lo != 0.9 || iv.Estimate != 0.98 {
		t.Errorf("clip: %v", iv)
	}
	if !iv.Excludes(0) || iv.Excludes(0.95) {
		t.Errorf("excludes: %v", iv)
	}
}

func TestChanceCorrected(t *testing.T) {
	for _, c := range []struct{ acc, chance, want float64 }{{0.1, 0.1, 0}, {1, 0.1, 1}, {0.55, 0.1, 0.5}, {0, 0.2, -0.25}} {
		got, err := ChanceCorrected(c.acc, c.chance)
		if err != nil || math.Abs(got-c.want) > 1e-12 {
			t.Errorf("ChanceCorrected(%g, %g) = %g, %v; want %g", c.acc, c.chance, got, err, c.want)
		}
	}
	if _, err := ChanceCorrected(0.5, 1); err == nil {
		t.Error("chance 1 accepted")
	}
}

// TestDecideTie checks that a bound off zero by rounding alone (the resampled means of equal measurements)
// decides nothing, while a bound off zero by a measurable amount does.
func TestDecideTie(t *testing.T) {
	for _, c := range []struct {
		iv   Interval
		want string
	}{
		{Interval{Estimate: 0.0067, Lo: 1.16e-17, Hi: 0.0133, Bounded: true}, Inconclusive},
		{Interval{Estimate: -0.0067, Lo: -0.0133, Hi: -4e-18, Bounded: true}, Inconclusive},
		{Interval{Estimate: 0.0067, Lo: 0.0007, Hi: 0.0133, Bounded: true}, Yes},
		{Interval{Estimate: -0.0067, Lo: -0.0133, Hi: -0.0007, Bounded: true}, No},
	} {
		if got := Decide(c.iv); got != c.want {
			t.Errorf("Decide(%v) = %s, want %s", c.iv, got, c.want)
		}
		if got := c.iv.Excludes(0); got != (c.want != Inconclusive) {
			t.Errorf("%v.Excludes(0) = %v", c.iv, got)
		}
	}
}
