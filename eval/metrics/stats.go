package metrics

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// Summary describes one quantity measured over several seeds.
type Summary struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
	// Std is the sample standard deviation (divisor N−1); 0 when N = 1.
	Std float64 `json:"std"`
	// Lo and Hi bound the 95% confidence interval of the mean,
	// Mean ± t(0.975, N−1)·Std/√N (Student's t). With N = 1 there is no
	// spread to estimate and the interval collapses to the mean; check N.
	Lo float64 `json:"lo"`
	Hi float64 `json:"hi"`
}

// HalfWidth is the half-width of the 95% interval, (Hi − Lo)/2.
func (s Summary) HalfWidth() float64 { return (s.Hi - s.Lo) / 2 }

// Mean returns the arithmetic mean of xs.
func Mean(xs []float64) (float64, error) {
	if len(xs) == 0 {
		return 0, errors.New("metrics: mean of no values")
	}
	if err := finite("values", xs); err != nil {
		return 0, err
	}
	return mean(xs), nil
}

// StdDev returns the sample standard deviation of xs (divisor n−1).
func StdDev(xs []float64) (float64, error) {
	if len(xs) < 2 {
		return 0, fmt.Errorf("metrics: sample standard deviation needs at least 2 values, got %d", len(xs))
	}
	if err := finite("values", xs); err != nil {
		return 0, err
	}
	m := mean(xs)
	ss := 0.0
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	return math.Sqrt(ss / float64(len(xs)-1)), nil
}

// Summarize returns the mean, sample standard deviation and 95% interval of
// xs, typically one value per seed.
func Summarize(xs []float64) (Summary, error) {
	m, err := Mean(xs)
	if err != nil {
		return Summary{}, err
	}
	s := Summary{N: len(xs), Mean: m, Lo: m, Hi: m}
	if len(xs) < 2 {
		return s, nil
	}
	s.Std, _ = StdDev(xs) // Cannot fail: len >= 2 and values are finite.
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(len(xs) - 1)}.Quantile(0.975)
	half := t * s.Std / math.Sqrt(float64(len(xs)))
	s.Lo, s.Hi = m-half, m+half
	return s, nil
}

// SummarizeRuns summarizes several runs pointwise: runs[s][j] is the value at
// point j (for instance an evaluation step) in run s (for instance a seed),
// and the result holds one Summary per point. All runs must have the same
// length.
func SummarizeRuns(runs [][]float64) ([]Summary, error) {
	if len(runs) == 0 {
		return nil, errors.New("metrics: no runs to summarize")
	}
	n := len(runs[0])
	for s, r := range runs {
		if len(r) != n {
			return nil, fmt.Errorf("metrics: run %d has %d points, run 0 has %d", s, len(r), n)
		}
	}
	out := make([]Summary, n)
	col := make([]float64, len(runs))
	for j := range n {
		for s, r := range runs {
			col[s] = r[j]
		}
		sum, err := Summarize(col)
		if err != nil {
			return nil, fmt.Errorf("metrics: point %d: %w", j, err)
		}
		out[j] = sum
	}
	return out, nil
}

// MeanMatrix averages accuracy matrices elementwise (one per seed) and also
// returns the elementwise sample standard deviation (all zeros for a single
// matrix). All matrices must be valid and of the same size.
func MeanMatrix(ms []Matrix) (mean, std Matrix, err error) {
	if len(ms) == 0 {
		return nil, nil, errors.New("metrics: no matrices to average")
	}
	T := len(ms[0])
	for s, m := range ms {
		if err := m.Validate(); err != nil {
			return nil, nil, fmt.Errorf("matrix %d: %w", s, err)
		}
		if len(m) != T {
			return nil, nil, fmt.Errorf("metrics: matrix %d is %d×%d, matrix 0 is %d×%d", s, len(m), len(m), T, T)
		}
	}
	mean, std = make(Matrix, T), make(Matrix, T)
	vals := make([]float64, len(ms))
	for k := range T {
		mean[k], std[k] = make([]float64, T), make([]float64, T)
		for i := range T {
			for s, m := range ms {
				vals[s] = m[k][i]
			}
			sum, _ := Summarize(vals) // Cannot fail: values are finite.
			mean[k][i], std[k][i] = sum.Mean, sum.Std
		}
	}
	return mean, std, nil
}
