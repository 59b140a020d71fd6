package lab

import (
	"errors"
	"math"
	"testing"

	"github.com/fastslow/fastslow/eval/metrics"
	"github.com/fastslow/fastslow/fastslow"
)

// TestChannelDrops checks the split on a two-task stream whose scorer answers from a table: each case changes
// the prompts, the adapter, or both after task a's round.
func TestChannelDrops(t *testing.T) {
	tasks := []Task{{Name: "a", Test: make([]fastslow.Example, 2)}, {Name: "b", Test: make([]fastslow.Example, 2)}}
	pick := func(t Task) []fastslow.Example { return t.Test }
	R := metrics.Matrix{{0.9, 0}, {0.4, 0.8}} // task a fell 0.5
	acc := map[[2]string]float64{{"old", "h1"}: 0.9, {"new", "h2"}: 0.4, {"old", "h2"}: 0.7, {"new", "h1"}: 0.5}
	score := func(ex []fastslow.Example, prompts []string, handle string) (float64, error) {
		v, ok := acc[[2]string{prompts[0], handle}]
		if !ok {
			return 0, errors.New("not in the table")
		}
		return v, nil
	}
	p := func(s string) []string { return []string{s, s} }
	for _, c := range []struct {
		name                   string
		thenP, endP            string
		thenH, endH            string
		total, weights, prompt float64
	}{
		{"both changed", "old", "new", "h1", "h2", 0.5, 0.2, 0.4},
		{"only the weights", "old", "old", "h1", "h2", 0.5, 0.5, 0},
		{"only the prompt", "old", "new", "h2", "h2", 0.5, 0, 0.5},
	} {
		t.Run(c.name, func(t *testing.T) {
			then := []servedState{{p(c.thenP), c.thenH}, {p("x"), c.endH}}
			d, err := channelDrops(R, tasks, pick, then, [][]string{p(c.endP), p("x")}, c.endH, score)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range []struct{ got, want float64 }{{d.Total, c.total}, {d.Weights, c.weights}, {d.Prompt, c.prompt}} {
				if math.Abs(g.got-g.want) > 1e-12 {
					t.Fatalf("split %+v, want total %g weights %g prompt %g", *d, c.total, c.weights, c.prompt)
				}
			}
		})
	}
	if _, err := channelDrops(R, tasks, pick, []servedState{{p("old"), "h1"}}, [][]string{p("new"), p("x")}, "h2", score); err == nil {
		t.Fatal("a split with a missing task's state: no error")
	}
}
