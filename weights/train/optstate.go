package train

import (
	"fmt"
	"slices"
)

// OptimizerState is AdamW's state after some steps — its step count and both moments of every parameter,
// by name — taken out of one run (Result.Optimizer) to carry into the next (Options.Optimizer), so a model
// trained in several runs, such as the rounds of a learner, keeps one optimizer rather than restarting its
// moments and bias correction at every run.
type OptimizerState struct {
	Step int                  // optimizer steps taken (t in AdamW's update rule)
	M, V map[string][]float32 // first and second moments, by parameter name
}

// State returns a copy of the optimizer's state.
func (o *AdamW) State() *OptimizerState {
	s := &OptimizerState{Step: o.t, M: make(map[string][]float32, len(o.params)), V: make(map[string][]float32, len(o.params))}
	for i, p := range o.params {
		s.M[p.Name] = slices.Clone(o.m[i])
		s.V[p.Name] = slices.Clone(o.v[i])
	}
	return s
}

// SetState replaces the optimizer's state with a copy of s, which must hold both moments of exactly the
// optimizer's parameters, with their sizes.
func (o *AdamW) SetState(s *OptimizerState) error {
	if s == nil {
		return fmt.Errorf("train: nil optimizer state")
	}
	if s.Step < 0 || len(s.M) != len(o.params) || len(s.V) != len(o.params) {
		return fmt.Errorf("train: optimizer state of step %d has moments of %d and %d parameters; the optimizer has %d",
			s.Step, len(s.M), len(s.V), len(o.params))
	}
	for _, p := range o.params {
		if len(s.M[p.Name]) != len(p.Data) || len(s.V[p.Name]) != len(p.Data) {
			return fmt.Errorf("train: optimizer state has %d and %d moments for %s, which has %d values",
				len(s.M[p.Name]), len(s.V[p.Name]), p.Name, len(p.Data))
		}
	}
	for i, p := range o.params {
		copy(o.m[i], s.M[p.Name])
		copy(o.v[i], s.V[p.Name])
	}
	o.t = s.Step
	return nil
}

// takeState returns the optimizer's state without copying it: the optimizer must not be used afterwards.
func (o *AdamW) takeState() *OptimizerState {
	s := &OptimizerState{Step: o.t, M: make(map[string][]float32, len(o.params)), V: make(map[string][]float32, len(o.params))}
	for i, p := range o.params {
		s.M[p.Name], s.V[p.Name] = o.m[i], o.v[i]
	}
	return s
}
