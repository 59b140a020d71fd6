package metrics

import (
	"math"
	"strings"
	"testing"
)

const tol = 1e-9

func near(a, b float64) bool {
	if math.IsInf(a, 0) || math.IsInf(b, 0) {
		return a == b
	}
	return math.Abs(a-b) <= tol*max(1, math.Abs(b))
}

func nearSlice(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !near(a[i], b[i]) {
			return false
		}
	}
	return true
}

// The matrices below were worked by hand; the expected values are spelled
// out as arithmetic so that a reader can check them.
func TestMatrixMetrics(t *testing.T) {
	tests := []struct {
		name       string
		R          Matrix
		avg, bwt   float64
		forgetting []float64
		plasticity float64
	}{
		{
			name: "three tasks",
			R: Matrix{
				{0.9, 0.1, 0.2},
				{0.7, 0.8, 0.3},
				{0.5, 0.6, 0.95},
			},
			avg:        (0.5 + 0.6 + 0.95) / 3,
			bwt:        ((0.5 - 0.9) + (0.6 - 0.8)) / 2,
			forgetting: []float64{0.9 - 0.5, 0.8 - 0.6},
			plasticity: (0.9 + 0.8 + 0.95) / 3,
		},
		{
			// Task 1 scored 0.9 before it was trained (row 0), dropped to
			// 0.5 when trained, and ends at 0.6: BWT sees a gain, but the
			// issue's forgetting (max over every earlier row) sees a loss.
			name: "best accuracy before training",
			R: Matrix{
				{1, 0.9, 0},
				{1, 0.5, 0},
				{1, 0.6, 1},
			},
			avg:        (1 + 0.6 + 1) / 3.0,
			bwt:        (0 + (0.6 - 0.5)) / 2, // task 0: 1 then 1; task 1: 0.5 then 0.6
			forgetting: []float64{0, 0.9 - 0.6},
			plasticity: (1 + 0.5 + 1) / 3,
		},
		{
			name:       "backward transfer gain gives negative forgetting",
			R:          Matrix{{0.5, 0}, {0.7, 0.9}},
			avg:        (0.7 + 0.9) / 2,
			bwt:        0.7 - 0.5,
			forgetting: []float64{0.5 - 0.7},
			plasticity: (0.5 + 0.9) / 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			avg, err := AverageAccuracy(tt.R)
			if err != nil || !near(avg, tt.avg) {
				t.Errorf("AverageAccuracy = %v, %v; want %v", avg, err, tt.avg)
			}
			bwt, err := BWT(tt.R)
			if err != nil || !near(bwt, tt.bwt) {
				t.Errorf("BWT = %v, %v; want %v", bwt, err, tt.bwt)
			}
			f, err := Forgetting(tt.R)
			if err != nil || !nearSlice(f, tt.forgetting) {
				t.Errorf("Forgetting = %v, %v; want %v", f, err, tt.forgetting)
			}
			af, err := AverageForgetting(tt.R)
			if wantAF := mean(tt.forgetting); err != nil || !near(af, wantAF) {
				t.Errorf("AverageForgetting = %v, %v; want %v", af, err, wantAF)
			}
			pl, err := Plasticity(tt.R)
			if err != nil || !near(pl, tt.plasticity) {
				t.Errorf("Plasticity = %v, %v; want %v", pl, err, tt.plasticity)
			}
		})
	}
}

func TestFWT(t *testing.T) {
	R := Matrix{
		{0.9, 0.1, 0.2},
		{0.7, 0.8, 0.3},
		{0.5, 0.6, 0.95},
	}
	got, err := FWT(R, []float64{0, 0.05, 0.1})
	if want := ((0.1 - 0.05) + (0.3 - 0.1)) / 2; err != nil || !near(got, want) {
		t.Fatalf("FWT = %v, %v; want %v", got, err, want)
	}
	if _, err := FWT(R, []float64{0, 0}); err == nil {
		t.Error("FWT accepted a short baseline")
	}
	if _, err := FWT(R, []float64{0, math.NaN(), 0}); err == nil {
		t.Error("FWT accepted a NaN baseline")
	}
}

func TestMatrixErrors(t *testing.T) {
	tests := []struct {
		name string
		R    Matrix
		want string
	}{
		{"empty", Matrix{}, "empty"},
		{"ragged", Matrix{{1, 2}, {3}}, "row 1 has 1 entries"},
		{"not square", Matrix{{1, 2, 3}, {1, 2, 3}}, "row 0 has 3 entries"},
		{"NaN", Matrix{{1, 0}, {math.NaN(), 1}}, "R[1][0]"},
		{"Inf", Matrix{{1, math.Inf(1)}, {0, 1}}, "R[0][1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for name, f := range map[string]func(Matrix) error{
				"AverageAccuracy": func(R Matrix) error { _, err := AverageAccuracy(R); return err },
				"BWT":             func(R Matrix) error { _, err := BWT(R); return err },
				"Forgetting":      func(R Matrix) error { _, err := Forgetting(R); return err },
				"Plasticity":      func(R Matrix) error { _, err := Plasticity(R); return err },
			} {
				if err := f(tt.R); err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("%s error = %v, want one containing %q", name, err, tt.want)
				}
			}
		})
	}
	// A single task has an average accuracy but no backward transfer.
	one := Matrix{{0.7}}
	if avg, err := AverageAccuracy(one); err != nil || avg != 0.7 {
		t.Errorf("AverageAccuracy(1×1) = %v, %v", avg, err)
	}
	if _, err := BWT(one); err == nil {
		t.Error("BWT accepted a single task")
	}
	if _, err := Forgetting(one); err == nil {
		t.Error("Forgetting accepted a single task")
	}
}

func TestSummarize(t *testing.T) {
	// t(0.975, 3) = 3.182446305284263, t(0.975, 1) = 12.706204736174698
	// (standard Student's t table values).
	tests := []struct {
		name string
		xs   []float64
		want Summary
	}{
		{"one seed", []float64{5}, Summary{N: 1, Mean: 5, Std: 0, Lo: 5, Hi: 5}},
		{"two seeds", []float64{2, 4}, Summary{N: 2, Mean: 3, Std: math.Sqrt2,
			Lo: 3 - 12.706204736174698, Hi: 3 + 12.706204736174698}}, // half-width t·√2/√2 = t
		{"four seeds", []float64{1, 2, 3, 4}, Summary{N: 4, Mean: 2.5, Std: math.Sqrt(5.0 / 3),
			Lo: 2.5 - 3.182446305284263*math.Sqrt(5.0/3)/2, Hi: 2.5 + 3.182446305284263*math.Sqrt(5.0/3)/2}},
		{"identical", []float64{0.3, 0.3, 0.3}, Summary{N: 3, Mean: 0.3, Std: 0, Lo: 0.3, Hi: 0.3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Summarize(tt.xs)
			if err != nil {
				t.Fatal(err)
			}
			if got.N != tt.want.N || !near(got.Mean, tt.want.Mean) || !near(got.Std, tt.want.Std) ||
				math.Abs(got.Lo-tt.want.Lo) > 1e-6 || math.Abs(got.Hi-tt.want.Hi) > 1e-6 {
				t.Fatalf("Summarize(%v) = %+v, want %+v", tt.xs, got, tt.want)
			}
			if hw := got.HalfWidth(); math.Abs(hw-(tt.want.Hi-tt.want.Lo)/2) > 1e-6 {
				t.Fatalf("HalfWidth = %v", hw)
			}
		})
	}
	for _, bad := range [][]float64{nil, {1, math.NaN()}, {math.Inf(-1)}} {
		if _, err := Summarize(bad); err == nil {
			t.Errorf("Summarize(%v) gave no error", bad)
		}
	}
	if _, err := StdDev([]float64{1}); err == nil {
		t.Error("StdDev of one value gave no error")
	}
}

func TestSummarizeRuns(t *testing.T) {
	got, err := SummarizeRuns([][]float64{{0, 1, 2}, {2, 3, 2}})
	if err != nil {
		t.Fatal(err)
	}
	wantMeans := []float64{1, 2, 2}
	wantStds := []float64{math.Sqrt2, math.Sqrt2, 0}
	for j, s := range got {
		if !near(s.Mean, wantMeans[j]) || !near(s.Std, wantStds[j]) || s.N != 2 {
			t.Errorf("point %d: %+v, want mean %v std %v", j, s, wantMeans[j], wantStds[j])
		}
	}
	if _, err := SummarizeRuns([][]float64{{1, 2}, {1}}); err == nil {
		t.Error("ragged runs gave no error")
	}
	if _, err := SummarizeRuns(nil); err == nil {
		t.Error("no runs gave no error")
	}
}

func TestMeanMatrix(t *testing.T) {
	a := Matrix{{1, 0}, {0.5, 1}}
	b := Matrix{{0, 0}, {0.5, 0}}
	mean, std, err := MeanMatrix([]Matrix{a, b})
	if err != nil {
		t.Fatal(err)
	}
	wantMean := Matrix{{0.5, 0}, {0.5, 0.5}}
	wantStd := Matrix{{math.Sqrt2 / 2, 0}, {0, math.Sqrt2 / 2}}
	for k := range 2 {
		if !nearSlice(mean[k], wantMean[k]) || !nearSlice(std[k], wantStd[k]) {
			t.Fatalf("row %d: mean %v std %v, want %v %v", k, mean[k], std[k], wantMean[k], wantStd[k])
		}
	}
	if _, _, err := MeanMatrix([]Matrix{a, {{1}}}); err == nil {
		t.Error("different sizes gave no error")
	}
	if _, _, err := MeanMatrix(nil); err == nil {
		t.Error("no matrices gave no error")
	}
}

func TestStepsTo(t *testing.T) {
	acc := []Point{{0, 0.1}, {10, 0.5}, {20, 0.9}, {30, 0.95}}
	loss := []Point{{0, 3}, {5, 2}, {10, 1.5}}
	tests := []struct {
		name     string
		f        func([]Point, float64) (int, bool, error)
		curve    []Point
		target   float64
		wantStep int
		wantOK   bool
		wantErr  bool
	}{
		{"reach exactly", StepsToReach, acc, 0.9, 20, true, false},
		{"reach between", StepsToReach, acc, 0.6, 20, true, false},
		{"reach at start", StepsToReach, acc, 0.0, 0, true, false},
		{"never reached", StepsToReach, acc, 0.99, 0, false, false},
		{"fall", StepsToFall, loss, 2, 5, true, false},
		{"never falls", StepsToFall, loss, 1, 0, false, false},
		{"empty", StepsToReach, nil, 1, 0, false, true},
		{"unordered steps", StepsToReach, []Point{{0, 0}, {0, 1}}, 1, 0, false, true},
		{"NaN value", StepsToReach, []Point{{0, 1}, {1, math.NaN()}}, 1, 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step, ok, err := tt.f(tt.curve, tt.target)
			if (err != nil) != tt.wantErr || step != tt.wantStep || ok != tt.wantOK {
				t.Fatalf("got (%d, %v, %v), want (%d, %v, err=%v)", step, ok, err, tt.wantStep, tt.wantOK, tt.wantErr)
			}
		})
	}
}

func TestKL(t *testing.T) {
	ln3 := math.Log(3)
	inf := math.Inf(1)
	tests := []struct {
		name    string
		p, q    []float64
		want    float64
		wantErr bool
	}{
		// P = (1/2, 1/2), Q = (1/4, 3/4): ½ln(2) + ½ln(2/3) = ½ln(4/3).
		{"hand computed", []float64{0, 0}, []float64{0, ln3}, 0.5 * math.Log(4.0/3), false},
		// Shifting logits leaves the distributions unchanged; naive
		// exp(1000) would overflow.
		{"large logits", []float64{1000, 1000}, []float64{1000, 1000 + ln3}, 0.5 * math.Log(4.0/3), false},
		{"identical", []float64{1, 2, 3}, []float64{1, 2, 3}, 0, false},
		{"masked in P", []float64{0, math.Inf(-1)}, []float64{0, 0}, math.Log(2), false},
		{"masked in Q", []float64{0, 0}, []float64{0, math.Inf(-1)}, inf, false},
		{"size mismatch", []float64{0}, []float64{0, 0}, 0, true},
		{"NaN", []float64{0, math.NaN()}, []float64{0, 0}, 0, true},
		{"+Inf", []float64{0, 0}, []float64{inf, 0}, 0, true},
		{"all masked", []float64{math.Inf(-1)}, []float64{0}, 0, true},
		{"empty", nil, nil, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := KL(tt.p, tt.q)
			if (err != nil) != tt.wantErr || (!tt.wantErr && !near(got, tt.want)) {
				t.Fatalf("KL = %v, %v; want %v (err=%v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestMeanKL(t *testing.T) {
	p := [][]float32{{0, 0}, {5, 5}}
	q := [][]float32{{0, float32(math.Log(3))}, {5, 5}}
	got, err := MeanKL(p, q)
	// float32 logits: log 3 is rounded, so compare loosely.
	if want := 0.5 * math.Log(4.0/3) / 2; err != nil || math.Abs(got-want) > 1e-6 {
		t.Fatalf("MeanKL = %v, %v; want %v", got, err, want)
	}
	if _, err := MeanKL(p, q[:1]); err == nil {
		t.Error("MeanKL accepted different position counts")
	}
	if _, err := MeanKL[float64](nil, nil); err == nil {
		t.Error("MeanKL accepted no positions")
	}
	if _, err := MeanKL([][]float64{{0, 0}}, [][]float64{{0}}); err == nil || !strings.Contains(err.Error(), "position 0") {
		t.Errorf("MeanKL error = %v, want it to name position 0", err)
	}
}

func TestLogLikelihoodAndPerplexity(t *testing.T) {
	logits := [][]float64{{0, 0}, {0, math.Log(3)}}
	ll, err := LogLikelihood(logits, []int{0, 1})
	if want := math.Log(0.5) + math.Log(0.75); err != nil || !near(ll, want) {
		t.Fatalf("LogLikelihood = %v, %v; want %v", ll, err, want)
	}
	ppl, err := Perplexity(ll, 2)
	// Geometric mean of 1/p: sqrt(1/(0.5·0.75)).
	if want := math.Sqrt(1 / (0.5 * 0.75)); err != nil || !near(ppl, want) {
		t.Fatalf("Perplexity = %v, %v; want %v", ppl, err, want)
	}
	if _, err := LogLikelihood(logits, []int{0, 2}); err == nil {
		t.Error("target outside vocabulary gave no error")
	}
	if _, err := LogLikelihood(logits, []int{0}); err == nil {
		t.Error("length mismatch gave no error")
	}
	tests := []struct {
		name    string
		sum     float64
		tokens  int
		want    float64
		wantErr bool
	}{
		{"uniform over 4", 2 * math.Log(0.25), 2, 4, false},
		{"certain", 0, 10, 1, false},
		{"no tokens", -1, 0, 0, true},
		{"positive sum", 0.5, 1, 0, true},
		{"NaN", math.NaN(), 1, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Perplexity(tt.sum, tt.tokens)
			if (err != nil) != tt.wantErr || (!tt.wantErr && !near(got, tt.want)) {
				t.Fatalf("Perplexity = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
