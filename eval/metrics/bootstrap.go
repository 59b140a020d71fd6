package metrics

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Resamples is how many bootstrap resamples the interval functions draw.
const Resamples = 4000

// Interval is an estimate with its 95% percentile-bootstrap interval.
type Interval struct {
	// Estimate is the statistic on the data as measured.
	Estimate float64 `json:"estimate"`
	// Lo and Hi bound the 95% interval (the 2.5th and 97.5th percentiles of the statistic over resamples).
	Lo float64 `json:"lo"`
	Hi float64 `json:"hi"`
	// N is the number of observations (seeds) behind it; for a difference or ratio, of the smaller group.
	N int `json:"n"`
	// Bounded is false when the interval could not be bounded (a ratio whose denominator was zero in more than
	// 2.5% of the resamples); Lo and Hi then hold ±∞ in Go and are left out of JSON by the report.
	Bounded bool `json:"bounded"`
}

// Tie is how close to a value an interval's bound counts as reaching it: the resampled means of equal
// measurements differ from each other by rounding (1e-17, not 0), which must not decide a verdict.
const Tie = 1e-9

// Excludes reports whether v lies outside the interval (by more than Tie): the data tell the statistic from v
// at the 5% level.
func (iv Interval) Excludes(v float64) bool { return iv.Bounded && (iv.Lo > v+Tie || iv.Hi < v-Tie) }

// Clip limits the interval (and the estimate) to the possible range [lo, hi]: an accuracy's interval never
// reaches below 0 or above 1.
func (iv Interval) Clip(lo, hi float64) Interval {
	c := func(x float64) float64 { return math.Min(math.Max(x, lo), hi) }
	iv.Estimate, iv.Lo, iv.Hi = c(iv.Estimate), c(iv.Lo), c(iv.Hi)
	return iv
}

// String formats the interval as "estimate [lo, hi]".
func (iv Interval) String() string {
	if !iv.Bounded {
		return fmt.Sprintf("%.3g [unbounded]", iv.Estimate)
	}
	return fmt.Sprintf("%.3g [%.3g, %.3g]", iv.Estimate, iv.Lo, iv.Hi)
}

// Verdicts a comparison can give.
const (
	Yes          = "yes"
	No           = "no"
	Inconclusive = "inconclusive"
)

// Decide answers "is the statistic above zero?": Yes when the whole interval is above zero, No when it is
// below, and Inconclusive when it contains zero, reaches it within Tie, or is unbounded. Frame the statistic so that "above zero"
// is the claim, for example the baseline's forgetting minus fst's for "does fst forget less?".
func Decide(iv Interval) string {
	switch {
	case !iv.Bounded:
		return Inconclusive
	case iv.Lo > Tie:
		return Yes
	case iv.Hi < -Tie:
		return No
	}
	return Inconclusive
}

// BootstrapMean is the mean of xs with its bootstrap interval; seed makes the resampling reproducible.
func BootstrapMean(xs []float64, seed uint64) (Interval, error) {
	return bootstrap([][]float64{xs}, false, seed, func(g [][]float64) (float64, bool) { return mean(g[0]), true })
}

// BootstrapDiff is mean(a) − mean(b) with its bootstrap interval. With paired set, a[i] and b[i] were measured
// under the same conditions (the same seed: world, initialization and order) and are resampled together; a and
// b must then have the same length. Otherwise each group is resampled on its own.
func BootstrapDiff(a, b []float64, paired bool, seed uint64) (Interval, error) {
	return bootstrap([][]float64{a, b}, paired, seed, func(g [][]float64) (float64, bool) { return mean(g[0]) - mean(g[1]), true })
}

// BootstrapRatio is mean(a) / mean(b) with its bootstrap interval (paired as in BootstrapDiff). A resample
// whose mean(b) is zero has no ratio; when more than 2.5% of them have none the interval is unbounded.
func BootstrapRatio(a, b []float64, paired bool, seed uint64) (Interval, error) {
	return bootstrap([][]float64{a, b}, paired, seed, func(g [][]float64) (float64, bool) {
		d := mean(g[1])
		if d == 0 {
			return 0, false
		}
		return mean(g[0]) / d, true
	})
}

// bootstrap resamples the groups (together when paired) Resamples times and returns the percentile interval
// of stat; stat's second result is false when a resample has no value.
func bootstrap(groups [][]float64, paired bool, seed uint64, stat func([][]float64) (float64, bool)) (Interval, error) {
	n := math.MaxInt
	for i, g := range groups {
		if len(g) == 0 {
			return Interval{}, fmt.Errorf("metrics: bootstrap: group %d has no values", i)
		}
		if err := finite("values", g); err != nil {
			return Interval{}, err
		}
		n = min(n, len(g))
	}
	if paired {
		for _, g := range groups[1:] {
			if len(g) != len(groups[0]) {
				return Interval{}, errors.New("metrics: bootstrap: paired groups differ in length")
			}
		}
	}
	est, ok := stat(groups)
	iv := Interval{Estimate: est, N: n, Lo: math.Inf(-1), Hi: math.Inf(1)}
	if !ok {
		iv.Estimate = math.NaN()
		return iv, nil
	}
	rng := rand.New(rand.NewPCG(seed, 0xb0075))
	res := make([][]float64, len(groups))
	for i, g := range groups {
		res[i] = make([]float64, len(g))
	}
	vals := make([]float64, 0, Resamples)
	missing := 0
	for range Resamples {
		if paired {
			for j := range groups[0] {
				k := rng.IntN(len(groups[0]))
				for i, g := range groups {
					res[i][j] = g[k]
				}
			}
		} else {
			for i, g := range groups {
				for j := range g {
					res[i][j] = g[rng.IntN(len(g))]
				}
			}
		}
		v, ok := stat(res)
		if !ok {
			missing++
			continue
		}
		vals = append(vals, v)
	}
	if float64(missing) > 0.025*Resamples {
		return iv, nil
	}
	slices.Sort(vals)
	iv.Lo, iv.Hi = quantile(vals, 0.025), quantile(vals, 0.975)
	iv.Bounded = true
	return iv, nil
}

// quantile is the q-quantile of sorted xs by linear interpolation between order statistics.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 1 {
		return xs[0]
	}
	pos := q * float64(len(xs)-1)
	i := int(pos)
	if i+1 >= len(xs) {
		return xs[len(xs)-1]
	}
	f := pos - float64(i)
	return xs[i]*(1-f) + xs[i+1]*f
}

// FisherExact is the two-sided p-value of Fisher's exact test on the 2×2 table
//
//	a b
//	c d
//
// for example a = facts the probe still ranked first that came back, b = ranked first that did not, c = not
// ranked first that came back, d = neither: the probability, with the margins fixed, of a table at most as
// likely as the one observed.
func FisherExact(a, b, c, d int) (float64, error) {
	if a < 0 || b < 0 || c < 0 || d < 0 {
		return 0, fmt.Errorf("metrics: fisher: negative count in [%d %d; %d %d]", a, b, c, d)
	}
	r1, c1, n := a+b, a+c, a+b+c+d
	if n == 0 {
		return 1, nil
	}
	logP := func(x int) float64 { // hypergeometric probability of the table whose top-left cell is x
		return lchoose(r1, x) + lchoose(n-r1, c1-x) - lchoose(n, c1)
	}
	obs := logP(a)
	p := 0.0
	for x := max(0, c1-(n-r1)); x <= min(r1, c1); x++ {
		if lp := logP(x); lp <= obs+1e-7 {
			p += math.Exp(lp)
		}
	}
	return math.Min(p, 1), nil
}

func lchoose(n, k int) float64 {
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(k + 1))
	c, _ := math.Lgamma(float64(n - k + 1))
	return a - b - c
}

// ChanceCorrected rescales an accuracy so that guessing scores 0 and a perfect score 1: (acc − chance) /
// (1 − chance). It is negative below chance.
func ChanceCorrected(acc, chance float64) (float64, error) {
	if chance < 0 || chance >= 1 {
		return 0, fmt.Errorf("metrics: chance level %g is outside [0, 1)", chance)
	}
	return (acc - chance) / (1 - chance), nil
}
