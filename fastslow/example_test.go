package fastslow_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/tmc/langchaingo/llms"

	"github.com/fastslow/fastslow/fastslow"
)

// facts are six people the embedded default model never met, asked in the wording it was pretrained on.
var facts = []struct{ question, answer string }{
	{"Q: Where was Asia Harwick born?\nA:", "Saldune"},
	{"Q: Where was Damira Thalstone born?\nA:", "Wystmere"},
	{"Q: Where was Jona Thalter born?\nA:", "Korrin"},
	{"Q: Where was Wymira Lemsby born?\nA:", "Quarnis"},
	{"Q: Where was Beren Dun born?\nA:", "Dunmeris"},
	{"Q: Where was Quinric Sorter born?\nA:", "Pellmarch"},
}

// An agent loop on the embedded default model, served in-process: the agent asks through the langchaingo
// model, tells the learner the right answers, and asks again. (Before feedback the model answers "Saldune",
// its most likely city, for everyone: right once, by chance.) The corrections reach the next answers through
// the fast channel at once (each becomes a note retrieved into the prompt of a similar question); a weight
// round learns them in the background later. With Ollama running, fastslow.Open(ctx, dir,
// fastslow.WithOllama("")) serves the same loop through it.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "fastslow-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	learner, err := fastslow.Open(ctx, dir)
	if err != nil {
		log.Fatal(err)
	}
	defer learner.Close()
	model := learner.LLM("people")

	ask := func(teach bool) (right int) {
		for _, f := range facts {
			out, err := llms.GenerateFromSinglePrompt(ctx, model, f.question, llms.WithMaxTokens(8))
			if err != nil {
				log.Fatal(err)
			}
			score := 0.0
			if strings.HasPrefix(strings.TrimSpace(out), f.answer) {
				right, score = right+1, 1
			}
			if !teach {
				continue
			}
			// The agent knows the right answer (from a user, a tool, a check) and says so either way.
			if _, err := model.Feedback(ctx, fastslow.Correction{Input: f.question, Output: out, Score: score, Answer: f.answer}); err != nil {
				log.Fatal(err)
			}
		}
		return right
	}
	before := ask(true)
	after := ask(false)
	fmt.Printf("right before feedback: %d of 6, after: %d of 6\n", before, after)
	// Output: right before feedback: 1 of 6, after: 6 of 6
}

// A weight-only learner memorizes facts in a LoRA adapter: Learn runs a round and waits for it.
func ExampleLearner_Learn() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "fastslow-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	learner, err := fastslow.Open(ctx, dir, fastslow.WithPolicy(fastslow.PolicyWeights),
		fastslow.WithOptions(func(o *fastslow.Options) { o.Slow.Steps, o.Slow.LR, o.Slow.Seed = 60, 1e-2, 1 }))
	if err != nil {
		log.Fatal(err)
	}
	defer learner.Close()
	var ex []fastslow.Example
	for _, f := range facts[:3] {
		ex = append(ex, fastslow.Example{Prompt: f.question, Completion: " " + f.answer})
	}
	round, err := learner.Learn(ctx, "people", ex, ex)
	if err != nil {
		log.Fatal(err)
	}
	acc, err := learner.Accuracy(ctx, "people", ex)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d weight steps, adapter version %d, accuracy %.2f\n", round.WeightSteps, round.Weights.Version.Seq, acc)
	// Output: 60 weight steps, adapter version 1, accuracy 1.00
}
