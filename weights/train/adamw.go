package train

import (
	"errors"
	"fmt"
	"math"
	"runtime"

	"github.com/fastslow/fastslow/internal/parallel"
	"github.com/fastslow/fastslow/weights/llama"
)

// AdamWConfig holds the hyperparameters of [AdamW] other than the learning rate, which is passed to
// each step so a schedule can drive it.
type AdamWConfig struct {
	Beta1, Beta2 float64 // decay rates of the first and second moment estimates
	Eps          float64 // added to the denominator for numerical stability
	WeightDecay  float64 // decoupled weight decay coefficient
	// DecayVectors applies weight decay to parameters with fewer than two dimensions too; by
	// default only matrices decay, so norm weights and biases keep their scale.
	DecayVectors bool
}

// AdamW is the Adam optimizer with decoupled weight decay (Loshchilov and Hutter), with the update
// rule of torch.optim.AdamW: for step t with learning rate lr and gradient g,
//
//	p ← p·(1 − lr·wd)
//	m ← β1·m + (1 − β1)·g
//	v ← β2·v + (1 − β2)·g²
//	p ← p − lr/(1 − β1^t) · m / (√v / √(1 − β2^t) + ε)
//
// The moments are stored in float32 like the parameters; each element's update is computed in
// float64 and rounded once per stored value. Elements are independent, so the result does not depend
// on how the work is split across goroutines.
type AdamW struct {
	cfg    AdamWConfig
	params []*llama.Param
	m, v   [][]float32
	t      int
}

// NewAdamW returns an optimizer for params with zero moments. Every parameter must have a Grad of
// the same length as its Data.
func NewAdamW(params []*llama.Param, cfg AdamWConfig) (*AdamW, error) {
	if !(cfg.Beta1 >= 0 && cfg.Beta1 < 1) || !(cfg.Beta2 >= 0 && cfg.Beta2 < 1) || !(cfg.Eps >= 0) || !(cfg.WeightDecay >= 0) {
		return nil, fmt.Errorf("train: invalid AdamW config %+v", cfg)
	}
	o := &AdamW{cfg: cfg, params: params, m: make([][]float32, len(params)), v: make([][]float32, len(params))}
	for i, p := range params {
		if p == nil {
			return nil, fmt.Errorf("train: parameter %d is nil", i)
		}
		if len(p.Grad) != len(p.Data) {
			return nil, fmt.Errorf("train: parameter %q has %d values but %d gradients", p.Name, len(p.Data), len(p.Grad))
		}
		o.m[i] = make([]float32, len(p.Data))
		o.v[i] = make([]float32, len(p.Data))
	}
	return o, nil
}

// StepCount returns the number of steps taken, t in the update rule.
func (o *AdamW) StepCount() int { return o.t }

// Step applies one update with learning rate lr to every parameter, using gradScale·Grad as the
// gradient, so a caller can fold loss normalization and clipping into one multiplication without
// rewriting the gradient buffers.
func (o *AdamW) Step(lr, gradScale float64) error {
	if !(lr >= 0) || math.IsInf(lr, 0) || math.IsNaN(gradScale) || math.IsInf(gradScale, 0) {
		return fmt.Errorf("train: AdamW step with learning rate %v and gradient scale %v", lr, gradScale)
	}
	for i, p := range o.params {
		if len(p.Data) != len(o.m[i]) || len(p.Grad) != len(o.m[i]) {
			return errors.New("train: AdamW parameter " + p.Name + " changed size since the optimizer was made")
		}
	}
	o.t++
	c := stepConsts{
		gs:       gradScale,
		b1:       o.cfg.Beta1,
		b2:       o.cfg.Beta2,
		eps:      o.cfg.Eps,
		stepSize: lr / (1 - math.Pow(o.cfg.Beta1, float64(o.t))),
		invSqBC2: 1 / math.Sqrt(1-math.Pow(o.cfg.Beta2, float64(o.t))),
		decayMul: 1 - lr*o.cfg.WeightDecay,
	}
	parallelChunks(o.params, func(pi, lo, hi int) {
		p := o.params[pi]
		cc := c
		if !o.cfg.DecayVectors && len(p.Shape) < 2 {
			cc.decayMul = 1
		}
		adamwUpdate(p.Data[lo:hi], p.Grad[lo:hi], o.m[pi][lo:hi], o.v[pi][lo:hi], &cc)
	})
	return nil
}

type stepConsts struct {
	gs, b1, b2, eps, stepSize, invSqBC2, decayMul float64
}

func adamwUpdate(p, g, m, v []float32, c *stepConsts) {
	g = g[:len(p)]
	m = m[:len(p)]
	v = v[:len(p)]
	for i := range p {
		gi := float64(g[i]) * c.gs
		mi := float32(c.b1*float64(m[i]) + (1-c.b1)*gi)
		vi := float32(c.b2*float64(v[i]) + (1-c.b2)*gi*gi)
		m[i], v[i] = mi, vi
		denom := math.Sqrt(float64(vi))*c.invSqBC2 + c.eps
		p[i] = float32(float64(p[i])*c.decayMul - c.stepSize*float64(mi)/denom)
	}
}

// chunkSize is the unit of parallel work over parameter elements. It is fixed, not derived from the
// core count, so reductions summed per chunk give the same result on every machine.
const chunkSize = 1 << 15

// parallelChunks calls f for every chunk [lo, hi) of every parameter, spreading the chunks over
// GOMAXPROCS goroutines when there is enough work to pay for them.
func parallelChunks(params []*llama.Param, f func(pi, lo, hi int)) {
	type chunk struct{ pi, lo, hi int }
	var chunks []chunk
	total := 0
	for pi, p := range params {
		for lo := 0; lo < len(p.Data); lo += chunkSize {
			chunks = append(chunks, chunk{pi, lo, min(lo+chunkSize, len(p.Data))})
		}
		total += len(p.Data)
	}
	// Below two chunks of elements, starting goroutines costs more than the work.
	workers := min(runtime.GOMAXPROCS(0), len(chunks), total/chunkSize)
	parallel.For(len(chunks), workers, func(k int) {
		c := chunks[k]
		f(c.pi, c.lo, c.hi)
	})
}

// gradNorm returns the L2 norm of all gradients together, summed in float64 per fixed chunk and then
// across chunks in order, so it is reproducible bit for bit.
func gradNorm(params []*llama.Param) float64 {
	offsets := make([]int, len(params)+1)
	for i, p := range params {
		offsets[i+1] = offsets[i] + (len(p.Grad)+chunkSize-1)/chunkSize
	}
	partial := make([]float64, offsets[len(params)])
	parallelChunks(params, func(pi, lo, hi int) {
		var s float64
		for _, g := range params[pi].Grad[lo:hi] {
			s += float64(g) * float64(g)
		}
		partial[offsets[pi]+lo/chunkSize] = s
	})
	var s float64
	for _, x := range partial {
		s += x
	}
	return math.Sqrt(s)
}

// zeroGrads clears every gradient buffer before a step accumulates into it.
func zeroGrads(params []*llama.Param) {
	for _, p := range params {
		clear(p.Grad)
	}
}
