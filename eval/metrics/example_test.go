package metrics_test

import (
	"fmt"
	"log"

	"github.com/fastslow/fastslow/eval/metrics"
)

func Example() {
	// Accuracy on each of three tasks (columns) after training on each task
	// in turn (rows).
	R := metrics.Matrix{
		{0.90, 0.10, 0.20},
		{0.70, 0.80, 0.30},
		{0.50, 0.60, 0.95},
	}
	avg, _ := metrics.AverageAccuracy(R)
	bwt, _ := metrics.BWT(R)
	forgetting, _ := metrics.Forgetting(R)
	fmt.Printf("average accuracy %.3f, BWT %.2f, forgetting %.2f\n", avg, bwt, forgetting)

	// BWT over three seeds, with a 95% interval.
	s, err := metrics.Summarize([]float64{-0.30, -0.25, -0.35})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("BWT %.2f ± %.2f (n=%d)\n", s.Mean, s.HalfWidth(), s.N)
	// Output:
	// average accuracy 0.683, BWT -0.30, forgetting [0.40 0.20]
	// BWT -0.30 ± 0.12 (n=3)
}

func ExampleMeanKL() {
	base := [][]float64{{2, 1, 0}, {0, 0, 0}}    // logits of the base model
	adapted := [][]float64{{1, 2, 0}, {0, 0, 0}} // logits of the adapted model
	// Position 0 swaps two probabilities p₁ = e²/(e²+e+1) and p₂ = e/(e²+e+1)
	// whose log-ratio is 1, so its KL is p₁ − p₂ = 0.4205; position 1 is 0.
	kl, err := metrics.MeanKL(base, adapted)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("mean KL(base‖adapted) = %.4f nats\n", kl)
	// Output:
	// mean KL(base‖adapted) = 0.2103 nats
}

func ExampleBootstrapDiff() {
	// Forgetting of two policies over the same ten seeds (world, initialization and order vary with the seed).
	baseline := []float64{0.30, 0.12, 0.25, 0.41, 0.05, 0.22, 0.18, 0.35, 0.09, 0.28}
	candidate := []float64{0.02, 0.10, 0.01, 0.05, 0.08, 0.00, 0.03, 0.12, 0.04, 0.02}
	iv, err := metrics.BootstrapDiff(baseline, candidate, true, 1)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("forgets less: %s (difference %.3f, 95%% interval excludes 0: %v)\n", metrics.Decide(iv), iv.Estimate, iv.Excludes(0))
	// Output:
	// forgets less: yes (difference 0.178, 95% interval excludes 0: true)
}
