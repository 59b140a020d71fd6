package fastslow_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/tmc/langchaingo/llms"

	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
)

// exampleModel writes a tiny random-weight model (a stand-in for a real base) and loads it.
func exampleModel(dir string) *weights.Model {
	path := filepath.Join(dir, "base.gguf")
	if _, _, err := tinymodel.Write(context.Background(), path, 7, 0.05, gguf.TypeF32); err != nil {
		log.Fatal(err)
	}
	m, err := weights.Load(path)
	if err != nil {
		log.Fatal(err)
	}
	return m
}

// An agent loop: the agent asks through the langchaingo model, tells the learner the right answer, and the
// next prompt served for that question carries the fact. With a real model in Ollama, use NewOllamaServer.
func ExampleLLM() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "fastslow-example")
	defer os.RemoveAll(dir)
	m := exampleModel(dir)
	opts := fastslow.DefaultOptions()
	opts.Policy, opts.Base, opts.Server = fastslow.PolicyPrompts, m, fastslow.NewEngineServer(m)
	learner, err := fastslow.NewLearner(ctx, filepath.Join(dir, "state"), opts)
	if err != nil {
		log.Fatal(err)
	}
	defer learner.Close()
	var model llms.Model = fastslow.NewLLM(learner, "capitals")

	question := "Q: What is the capital of Zorblia?\nA:"
	answer, err := llms.GenerateFromSinglePrompt(ctx, model, question, llms.WithMaxTokens(8))
	if err != nil {
		log.Fatal(err)
	}
	// The agent checks the answer and gives feedback with the right one.
	if err := model.(*fastslow.LLM).Feedback(ctx, question, answer, 0, "wrong capital", "Quessa"); err != nil {
		log.Fatal(err)
	}
	prompt, err := learner.Prompt(ctx, "capitals", question)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.Contains(prompt, "Quessa"))
	// Output: true
}

// A weight-only learner memorizes a handful of facts in a LoRA adapter.
func ExampleLearner_Learn() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "fastslow-example")
	defer os.RemoveAll(dir)
	m := exampleModel(dir)
	opts := fastslow.DefaultOptions()
	opts.Policy, opts.Base, opts.Server = fastslow.PolicyWeights, m, fastslow.NewEngineServer(m)
	opts.Slow.Steps, opts.Slow.LR, opts.Slow.Seed = 90, 1e-2, 1
	learner, err := fastslow.NewLearner(ctx, filepath.Join(dir, "state"), opts)
	if err != nil {
		log.Fatal(err)
	}
	defer learner.Close()
	facts := []fastslow.Example{
		{Prompt: "Q: capital of Zorblia?\nA:", Completion: " Quessa"},
		{Prompt: "Q: capital of Marovia?\nA:", Completion: " Tovik"},
	}
	round, err := learner.Learn(ctx, "capitals", facts, facts)
	if err != nil {
		log.Fatal(err)
	}
	acc, err := learner.Accuracy(ctx, "capitals", facts)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d weight steps, adapter version %d, accuracy %.2f\n", round.WeightSteps, round.Weights.Version.Seq, acc)
	// Output: 90 weight steps, adapter version 1, accuracy 1.00
}
