package train

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/fastslow/fastslow/weights/llama"
)

// torchCase is one trajectory of torch.optim.AdamW recorded by testdata/adamw_torch.py.
type torchCase struct {
	Name        string      `json:"name"`
	Shape       []int       `json:"shape"`
	P0          []float64   `json:"p0"`
	Beta1       float64     `json:"beta1"`
	Beta2       float64     `json:"beta2"`
	Eps         float64     `json:"eps"`
	WeightDecay float64     `json:"weight_decay"`
	LRs         []float64   `json:"lrs"`
	GradScale   float64     `json:"grad_scale"`
	ClipNorm    float64     `json:"clip_norm"`
	Grads       [][]float64 `json:"grads"`
	Want        [][]float64 `json:"want"`
}

func loadTorchCases(t *testing.T) []torchCase {
	t.Helper()
	b, err := os.ReadFile("testdata/adamw_torch.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Cases []torchCase `json:"cases"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Cases) == 0 {
		t.Fatal("no cases in testdata/adamw_torch.json")
	}
	return f.Cases
}

func f32s(xs []float64) []float32 {
	out := make([]float32, len(xs))
	for i, x := range xs {
		out[i] = float32(x)
	}
	return out
}

// ulpDiff is the distance between two float32 values in units in the last place.
func ulpDiff(a, b float32) int64 {
	ia, ib := int64(int32(math.Float32bits(a))), int64(int32(math.Float32bits(b)))
	// Map the sign-magnitude encoding to a monotonic integer line.
	if ia < 0 {
		ia = math.MinInt32 - ia
	}
	if ib < 0 {
		ib = math.MinInt32 - ib
	}
	d := ia - ib
	if d < 0 {
		d = -d
	}
	return d
}

// TestAdamWMatchesTorch replays trajectories of torch.optim.AdamW (with clip_grad_norm_ where set)
// and requires every parameter after every step to agree to a few float32 ulps. torch computes in
// float32 throughout while AdamW rounds only the stored values, so the two may differ in the last
// bits but not more (4 ulps at most was seen on amd64; the margin allows for fused multiply-adds).
func TestAdamWMatchesTorch(t *testing.T) {
	const maxULPs = 8
	for _, c := range loadTorchCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			p := &llama.Param{Name: c.Name, Shape: c.Shape, Data: f32s(c.P0), Grad: make([]float32, len(c.P0))}
			opt, err := NewAdamW([]*llama.Param{p}, AdamWConfig{Beta1: c.Beta1, Beta2: c.Beta2, Eps: c.Eps, WeightDecay: c.WeightDecay})
			if err != nil {
				t.Fatal(err)
			}
			for step, lr := range c.LRs {
				copy(p.Grad, f32s(c.Grads[step]))
				scale := c.GradScale
				scale *= clipFactor(gradNorm([]*llama.Param{p})*scale, c.ClipNorm)
				if err := opt.Step(lr, scale); err != nil {
					t.Fatal(err)
				}
				for i, want := range f32s(c.Want[step]) {
					if d := ulpDiff(p.Data[i], want); d > maxULPs {
						t.Errorf("step %d: p[%d] = %.9g, torch %.9g (%d ulps apart)", step+1, i, p.Data[i], want, d)
					}
				}
			}
			if opt.StepCount() != len(c.LRs) {
				t.Errorf("StepCount = %d, want %d", opt.StepCount(), len(c.LRs))
			}
		})
	}
}

// TestAdamWFloat64Reference compares against the update rule written out directly in float64, with
// no rounding of the moments, over many steps of a larger vector with varying learning rates.
func TestAdamWFloat64Reference(t *testing.T) {
	for _, cfg := range []AdamWConfig{
		{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.05},
		{Beta1: 0, Beta2: 0.5, Eps: 1e-4, WeightDecay: 0},
		{Beta1: 0.95, Beta2: 0.95, Eps: 0, WeightDecay: 0.3, DecayVectors: true},
	} {
		const n, steps = 257, 30
		p := &llama.Param{Name: "v", Shape: []int{n}, Data: make([]float32, n), Grad: make([]float32, n)}
		ref := make([]float64, n)
		m, v := make([]float64, n), make([]float64, n)
		for i := range ref {
			p.Data[i] = float32(math.Cos(float64(i)) * 2)
			ref[i] = float64(p.Data[i])
		}
		opt, err := NewAdamW([]*llama.Param{p}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for step := 1; step <= steps; step++ {
			lr := 0.01 * (1 + math.Sin(float64(step)))
			const scale = 0.25
			for i := range p.Grad {
				p.Grad[i] = float32(math.Sin(float64(i*step)) * float64(1+i%5))
			}
			if err := opt.Step(lr, scale); err != nil {
				t.Fatal(err)
			}
			wd := cfg.WeightDecay
			if !cfg.DecayVectors {
				wd = 0 // a 1-D parameter
			}
			for i := range ref {
				g := float64(p.Grad[i]) * scale
				ref[i] *= 1 - lr*wd
				m[i] = cfg.Beta1*m[i] + (1-cfg.Beta1)*g
				v[i] = cfg.Beta2*v[i] + (1-cfg.Beta2)*g*g
				mHat := m[i] / (1 - math.Pow(cfg.Beta1, float64(step)))
				vHat := v[i] / (1 - math.Pow(cfg.Beta2, float64(step)))
				ref[i] -= lr * mHat / (math.Sqrt(vHat) + cfg.Eps)
			}
		}
		for i := range ref {
			if d := math.Abs(float64(p.Data[i]) - ref[i]); d > 1e-5*max(1, math.Abs(ref[i])) {
				t.Errorf("%+v: p[%d] = %.9g, float64 reference %.9g", cfg, i, p.Data[i], ref[i])
			}
		}
	}
}

func TestAdamWRejects(t *testing.T) {
	good := &llama.Param{Name: "a", Shape: []int{2}, Data: make([]float32, 2), Grad: make([]float32, 2)}
	for _, tc := range []struct {
		name   string
		params []*llama.Param
		cfg    AdamWConfig
	}{
		{"beta1 one", []*llama.Param{good}, AdamWConfig{Beta1: 1, Beta2: 0.9}},
		{"beta2 NaN", []*llama.Param{good}, AdamWConfig{Beta1: 0.9, Beta2: math.NaN()}},
		{"negative eps", []*llama.Param{good}, AdamWConfig{Beta1: 0.9, Beta2: 0.9, Eps: -1}},
		{"nil param", []*llama.Param{nil}, AdamWConfig{Beta1: 0.9, Beta2: 0.9}},
		{"short grad", []*llama.Param{{Name: "b", Data: make([]float32, 2), Grad: make([]float32, 1)}}, AdamWConfig{Beta1: 0.9, Beta2: 0.9}},
	} {
		if _, err := NewAdamW(tc.params, tc.cfg); err == nil {
			t.Errorf("%s: NewAdamW succeeded", tc.name)
		}
	}
	opt, err := NewAdamW([]*llama.Param{good}, AdamWConfig{Beta1: 0.9, Beta2: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range [][2]float64{{math.NaN(), 1}, {-1, 1}, {0.1, math.Inf(1)}} {
		if err := opt.Step(step[0], step[1]); err == nil {
			t.Errorf("Step(%v, %v) succeeded", step[0], step[1])
		}
	}
	if opt.StepCount() != 0 {
		t.Errorf("rejected steps counted: %d", opt.StepCount())
	}
}

// TestGradNormChunks checks the chunked, parallel norm against a plain sum over several chunks.
func TestGradNormChunks(t *testing.T) {
	params := []*llama.Param{
		{Name: "a", Data: make([]float32, 3*chunkSize+17), Grad: make([]float32, 3*chunkSize+17)},
		{Name: "b", Data: make([]float32, 5), Grad: make([]float32, 5)},
	}
	var want float64
	for _, p := range params {
		for i := range p.Grad {
			p.Grad[i] = float32(math.Sin(float64(i)))
			want += float64(p.Grad[i]) * float64(p.Grad[i])
		}
	}
	want = math.Sqrt(want)
	if got := gradNorm(params); math.Abs(got-want) > 1e-9*want {
		t.Errorf("gradNorm = %v, want %v", got, want)
	}
}

// BenchmarkAdamWStep measures one optimizer step over a million parameters.
func BenchmarkAdamWStep(b *testing.B) {
	const n = 1 << 20
	p := &llama.Param{Name: "w", Shape: []int{1024, 1024}, Data: make([]float32, n), Grad: make([]float32, n)}
	for i := range p.Grad {
		p.Data[i] = float32(i%7) * 0.1
		p.Grad[i] = float32(i%13) * 0.01
	}
	opt, err := NewAdamW([]*llama.Param{p}, AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(4 * 4 * n) // parameter, gradient and two moments
	for b.Loop() {
		if err := opt.Step(1e-3, 1); err != nil {
			b.Fatal(err)
		}
	}
}
