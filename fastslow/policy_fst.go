package fastslow

import (
	"context"
	"math/rand/v2"

	"github.com/fastslow/fastslow/weights"
)

// PolicyFST runs a prompt cycle first, then a few weight steps trained with prompts sampled from the candidate
// population in context, within the forgetting budget (Fast-Slow Training).
var PolicyFST Policy = fstPolicy{}

type fstPolicy struct{}

func (fstPolicy) Name() string { return "fst" }

func (fstPolicy) Describe() string {
	return "a prompt cycle (facts as notes, demos, gated promotion) first, then a few LoRA steps with prompts from the candidate population in context, kept only within the forgetting budget"
}

func (fstPolicy) Channels() Channels { return Channels{Prompts: true, Weights: true} }

// Plan shows each example with the served prompt, with the input alone, and with a candidate drawn from the
// task's population, so the weights learn to work with prompts rather than to replace them, stay right for the
// prompt that is served, and keep the answer when the task's notes are removed.
func (fstPolicy) Plan(ctx context.Context, c Chunk) (WeightPlan, error) {
	plan := WeightPlan{Steps: c.Options.FSTSteps, Budget: c.Options.Budget}
	pop, err := c.Fast.Population(ctx, c.Task)
	if err != nil {
		return plan, err
	}
	rng := rand.New(rand.NewPCG(c.Options.Slow.Seed, uint64(len(c.Task))))
	plan.Pairs = make([]weights.Pair, 0, 3*len(c.Examples))
	for _, e := range c.Examples {
		served, err := c.Fast.Render(ctx, c.Task, e.Prompt)
		if err != nil {
			return plan, err
		}
		plan.Pairs = append(plan.Pairs, weights.Pair{Prompt: served, Completion: e.Completion})
		if e.Prompt != served { // and with the input alone, so the weights keep it once its notes are gone
			plan.Pairs = append(plan.Pairs, weights.Pair{Prompt: e.Prompt, Completion: e.Completion})
		}
		if len(pop) == 0 {
			continue
		}
		sampled, err := c.Fast.RenderCandidate(ctx, pop[rng.IntN(len(pop))], e.Prompt)
		if err != nil {
			return plan, err
		}
		if sampled != served {
			plan.Pairs = append(plan.Pairs, weights.Pair{Prompt: sampled, Completion: e.Completion})
		}
	}
	return plan, nil
}
