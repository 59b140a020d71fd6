package lab

import (
	"context"
	"math/rand/v2"
	"strings"

	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/weights"
)

// Ablation is a weight-training policy built from three parts that fst combines, each on or off, so the report
// can say which part does the work. Every ablation trains at most FSTSteps weight steps per task (the same step
// budget as fst) at the learner's learning rate:
//   - Prompts: a prompt cycle first, and the weights train on examples inside the served prompt (else the
//     examples alone, and nothing but the input is served);
//   - Gate: the forgetting budget on the retention set (earlier tasks' validation examples and pretraining facts)
//     bounds the round (else it is unbounded);
//   - Replay: each task's examples are mixed one to one with stored training examples of earlier tasks.
//
// Unlike fst, an ablation with prompts trains on the served prompt only, not on prompts sampled from the
// candidate population.
type Ablation struct {
	Prompts, Gate, Replay bool
}

// AblationPolicies are the eight ablations, all parts on first.
func AblationPolicies() []fastslow.Policy {
	var out []fastslow.Policy
	for _, p := range []bool{true, false} {
		for _, g := range []bool{true, false} {
			for _, r := range []bool{true, false} {
				out = append(out, Ablation{Prompts: p, Gate: g, Replay: r})
			}
		}
	}
	return out
}

// Name is "ablate:" and the parts that are on, joined by "+" ("none" for plain capped fine-tuning).
func (a Ablation) Name() string {
	var on []string
	if a.Prompts {
		on = append(on, "prompts")
	}
	if a.Gate {
		on = append(on, "gate")
	}
	if a.Replay {
		on = append(on, "replay")
	}
	if len(on) == 0 {
		on = []string{"none"}
	}
	return "ablate:" + strings.Join(on, "+")
}

// Describe implements fastslow.Policy.
func (a Ablation) Describe() string {
	return "an ablation at fst's step budget: prompts " + onOff(a.Prompts) + ", retention gate " + onOff(a.Gate) + ", replay " + onOff(a.Replay)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// Channels implements fastslow.Policy.
func (a Ablation) Channels() fastslow.Channels {
	return fastslow.Channels{Prompts: a.Prompts, Weights: true}
}

// Plan implements fastslow.Policy.
func (a Ablation) Plan(ctx context.Context, c fastslow.Chunk) (fastslow.WeightPlan, error) {
	plan := fastslow.WeightPlan{Steps: c.Options.FSTSteps, Budget: -1}
	if a.Gate {
		plan.Budget = c.Options.Budget
	}
	ex := append([]fastslow.Example(nil), c.Examples...)
	if a.Replay {
		rng := rand.New(rand.NewPCG(c.Options.Slow.Seed, uint64(len(c.Task))))
		for _, i := range rng.Perm(len(c.Earlier))[:min(len(c.Earlier), len(c.Examples))] {
			ex = append(ex, c.Earlier[i])
		}
	}
	for _, e := range ex {
		prompt := e.Prompt
		if a.Prompts {
			task := e.Task
			if task == "" {
				task = c.Task
			}
			var err error
			if prompt, err = c.Fast.Render(ctx, task, e.Prompt); err != nil {
				return plan, err
			}
		}
		plan.Pairs = append(plan.Pairs, weights.Pair{Prompt: prompt, Completion: e.Completion})
	}
	return plan, nil
}
