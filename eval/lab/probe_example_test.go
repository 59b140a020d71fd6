package lab_test

import (
	"context"
	"fmt"

	"github.com/fastslow/fastslow/eval/lab"
)

// ExampleProbe asks whether a model that no longer answers "Veltmor" still prefers it to other cities. The
// scorer here is a table; lab.ModelScorer scores with a real model and adapter.
func ExampleProbe() {
	logp := map[string]float64{" Veltmor": -4.1, " Kessa": -6.0, " Orwen": -7.2, " Dunmarsh": -3.9}
	score := func(prompt, completion string) (float64, error) { return logp[completion], nil }
	items := []lab.ProbeItem{
		{Prompt: "Q: Where was Alia Brenn born?\nA:", Answer: "Veltmor", Distractors: []string{"Kessa", "Orwen"}},
		{Prompt: "Q: Where was Alia Brenn born?\nA:", Answer: "Veltmor", Distractors: []string{"Kessa", "Dunmarsh"}},
	}
	rs, err := lab.Probe(context.Background(), score, items)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range rs {
		fmt.Printf("rank %d of %d, margin %+.1f nats, still known: %v\n", r.Rank, r.Candidates, r.Margin, r.Known())
	}
	fmt.Printf("share still known: %.2f\n", lab.KnownShare(rs))
	// Output:
	// rank 0 of 3, margin +1.9 nats, still known: true
	// rank 1 of 3, margin -0.2 nats, still known: false
	// share still known: 0.50
}
