// Package metrics computes the forgetting lab's numbers: continual-learning
// metrics from an accuracy matrix, steps to reach a target, KL divergence
// between next-token distributions, perplexity, and summaries across seeds.
//
// Every function returns an error rather than panicking on malformed input.
package metrics

import (
	"errors"
	"fmt"
	"math"
)

// Matrix is an accuracy matrix over a stream of T tasks: R[k][i] is the
// accuracy on task i measured after training on task k (both 0-indexed).
// It must be T×T with finite entries.
type Matrix [][]float64

// Validate reports whether R is a non-empty square matrix of finite values.
func (R Matrix) Validate() error {
	if len(R) == 0 {
		return errors.New("metrics: empty accuracy matrix")
	}
	for k, row := range R {
		if len(row) != len(R) {
			return fmt.Errorf("metrics: accuracy matrix row %d has %d entries, want %d", k, len(row), len(R))
		}
		for i, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("metrics: accuracy matrix R[%d][%d] = %v is not finite", k, i, v)
			}
		}
	}
	return nil
}

// validateStream is Validate plus the T >= 2 that metrics comparing the last
// row with earlier ones need.
func (R Matrix) validateStream(metric string) error {
	if err := R.Validate(); err != nil {
		return err
	}
	if len(R) < 2 {
		return fmt.Errorf("metrics: %s needs at least 2 tasks, got %d", metric, len(R))
	}
	return nil
}

// AverageAccuracy is the mean accuracy over all tasks after the last one:
// (1/T) Σ_i R[T−1][i].
func AverageAccuracy(R Matrix) (float64, error) {
	if err := R.Validate(); err != nil {
		return 0, err
	}
	return mean(R[len(R)-1]), nil
}

// BWT is backward transfer: the mean over i < T−1 of R[T−1][i] − R[i][i],
// how much accuracy on each earlier task changed between just after
// learning it and the end of the stream. Negative values mean forgetting.
func BWT(R Matrix) (float64, error) {
	if err := R.validateStream("BWT"); err != nil {
		return 0, err
	}
	last := R[len(R)-1]
	sum := 0.0
	for i := range len(R) - 1 {
		sum += last[i] - R[i][i]
	}
	return sum / float64(len(R)-1), nil
}

// Forgetting returns, for each task i < T−1, the drop from its best accuracy
// at any earlier point of the stream to its final accuracy:
// max over k < T−1 of R[k][i] − R[T−1][i]. The maximum runs over every
// earlier row, including rows before task i was trained, as the issue
// defines it; a value is negative when the final accuracy is the best.
func Forgetting(R Matrix) ([]float64, error) {
	if err := R.validateStream("forgetting"); err != nil {
		return nil, err
	}
	T := len(R)
	out := make([]float64, T-1)
	for i := range T - 1 {
		best := math.Inf(-1)
		for k := range T - 1 {
			best = max(best, R[k][i])
		}
		out[i] = best - R[T-1][i]
	}
	return out, nil
}

// AverageForgetting is the mean of Forgetting over tasks i < T−1.
func AverageForgetting(R Matrix) (float64, error) {
	f, err := Forgetting(R)
	if err != nil {
		return 0, err
	}
	return mean(f), nil
}

// Plasticity is the mean accuracy on each task right after training on it,
// (1/T) Σ_i R[i][i]: how well the learner acquires new tasks, regardless of
// what it later forgets (also called learning accuracy).
func Plasticity(R Matrix) (float64, error) {
	if err := R.Validate(); err != nil {
		return 0, err
	}
	sum := 0.0
	for i := range R {
		sum += R[i][i]
	}
	return sum / float64(len(R)), nil
}

// FWT is forward transfer: the mean over i ≥ 1 of R[i−1][i] − baseline[i],
// how much training on earlier tasks helps task i before it is trained, with
// baseline[i] the accuracy of the starting model on task i.
func FWT(R Matrix, baseline []float64) (float64, error) {
	if err := R.validateStream("FWT"); err != nil {
		return 0, err
	}
	if len(baseline) != len(R) {
		return 0, fmt.Errorf("metrics: FWT baseline has %d entries, want %d", len(baseline), len(R))
	}
	if err := finite("FWT baseline", baseline); err != nil {
		return 0, err
	}
	sum := 0.0
	for i := 1; i < len(R); i++ {
		sum += R[i-1][i] - baseline[i]
	}
	return sum / float64(len(R)-1), nil
}

func mean(xs []float64) float64 {
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

func finite(what string, xs []float64) error {
	for i, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("metrics: %s[%d] = %v is not finite", what, i, x)
		}
	}
	return nil
}
