package train

import "math"

// LearningRate returns the learning rate of step (counted from 0) of a run of total steps under the
// schedule in o: a linear warmup from LR/Warmup to LR over the first Warmup steps, then a decay of
// shape o.Decay from LR towards MinLR, whose last step is one decay interval short of MinLR, so no
// step is wasted at a zero rate. Zero fields of o take their defaults.
func LearningRate(o Options, step, total int) float64 {
	o = o.withDefaults()
	if step < o.Warmup {
		return o.LR * float64(step+1) / float64(o.Warmup)
	}
	decaySteps := total - o.Warmup
	if decaySteps <= 0 {
		return o.LR
	}
	p := float64(step-o.Warmup) / float64(decaySteps)
	p = min(max(p, 0), 1)
	switch o.Decay {
	case DecayLinear:
		return o.LR - (o.LR-o.MinLR)*p
	case DecayConstant:
		return o.LR
	default:
		return o.MinLR + (o.LR-o.MinLR)*0.5*(1+math.Cos(math.Pi*p))
	}
}
