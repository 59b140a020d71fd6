package metrics

import (
	"errors"
	"fmt"
	"math"
)

// Point is one measurement of a learning curve: Value (accuracy, loss, ...)
// after Step optimizer steps.
type Point struct {
	Step  int     `json:"step"`
	Value float64 `json:"value"`
}

// StepsToReach returns the first step at which the curve's value is at least
// target, and false if it never gets there. Steps must be strictly
// increasing.
func StepsToReach(curve []Point, target float64) (int, bool, error) {
	return firstStep(curve, func(v float64) bool { return v >= target })
}

// StepsToFall returns the first step at which the curve's value is at most
// target (for losses), and false if it never gets there.
func StepsToFall(curve []Point, target float64) (int, bool, error) {
	return firstStep(curve, func(v float64) bool { return v <= target })
}

func firstStep(curve []Point, reached func(float64) bool) (int, bool, error) {
	if len(curve) == 0 {
		return 0, false, errors.New("metrics: empty learning curve")
	}
	for j, p := range curve {
		if j > 0 && p.Step <= curve[j-1].Step {
			return 0, false, fmt.Errorf("metrics: learning curve steps not increasing at point %d (%d after %d)", j, p.Step, curve[j-1].Step)
		}
		if math.IsNaN(p.Value) {
			return 0, false, fmt.Errorf("metrics: learning curve value at step %d is NaN", p.Step)
		}
	}
	for _, p := range curve {
		if reached(p.Value) {
			return p.Step, true, nil
		}
	}
	return 0, false, nil
}
