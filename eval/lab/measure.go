package lab

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/fastslow/fastslow/eval/metrics"
	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/llama"
)

// cleanup removes the learner's adapter models from the server: the lab makes many and keeps none.
func cleanup(ctx context.Context, l *fastslow.Learner) {
	for _, v := range l.Slow().Versions() {
		_ = l.Server().Remove(ctx, v.Handle)
	}
}

// rawAccuracy serves examples without any prompt, with adapter a, in the in-process engine.
func rawAccuracy(ctx context.Context, m *weights.Model, ex []fastslow.Example, a *llama.Adapter) (float64, error) {
	if len(ex) == 0 {
		return 0, nil
	}
	right := 0
	for _, e := range ex {
		ids := m.Tokenizer.Encode(e.Prompt, true)
		out, err := m.Generate(ctx, ids, min(24, m.Config.ContextLength-len(ids)), llama.Sampler{}, a)
		if err != nil {
			return 0, err
		}
		if e.Correct(m.Tokenizer.Decode(out)) {
			right++
		}
	}
	return float64(right) / float64(len(ex)), nil
}

// prose returns the perplexity of the passages and every position's next-token logits.
func prose(m *weights.Model, passages []string, a *llama.Adapter) (float64, [][]float32, error) {
	if len(passages) == 0 {
		return 0, nil, nil
	}
	var sumLL float64
	n := 0
	var rows [][]float32
	V := m.Config.Vocab
	for _, p := range passages {
		ids := m.Tokenizer.Encode(p, true)
		if len(ids) > m.Config.ContextLength {
			ids = ids[:m.Config.ContextLength]
		}
		if len(ids) < 2 {
			continue
		}
		logits, err := m.Logits(ids, a)
		if err != nil {
			return 0, nil, err
		}
		for t := 0; t+1 < len(ids); t++ {
			row := logits[t*V : (t+1)*V]
			lp, err := metrics.LogSoftmax(row)
			if err != nil {
				return 0, nil, err
			}
			sumLL += lp[ids[t+1]]
			n++
			rows = append(rows, row)
		}
	}
	ppl, err := metrics.Perplexity(sumLL, n)
	return ppl, rows, err
}

func meanKL(p, q [][]float32) (float64, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return metrics.MeanKL(p, q)
}

func mustAvg(R metrics.Matrix) float64 {
	v, err := metrics.AverageAccuracy(R)
	if err != nil {
		return math.NaN()
	}
	return v
}

func mustBWT(R metrics.Matrix) float64 {
	if len(R) < 2 {
		return 0
	}
	v, err := metrics.BWT(R)
	if err != nil {
		return math.NaN()
	}
	return v
}

func sum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

func fmtRow(row []float64) string {
	s := "["
	for i, v := range row {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%.2f", v)
	}
	return s + "]"
}

// sortedPolicies returns the policies present in runs in the canonical order.
func sortedPolicies(runs []Run) []string {
	seen := map[string]bool{}
	for _, r := range runs {
		seen[r.Policy] = true
	}
	var out []string
	for _, p := range fastslow.Policies() {
		if seen[p.Name()] {
			out = append(out, p.Name())
		}
	}
	var extra []string
	for p := range seen {
		found := false
		for _, q := range out {
			found = found || q == p
		}
		if !found {
			extra = append(extra, p)
		}
	}
	sort.Strings(extra)
	return append(out, extra...)
}
