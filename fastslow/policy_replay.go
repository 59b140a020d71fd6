package fastslow

import (
	"context"
	"math/rand/v2"
)

// PolicyReplay trains the adapter only, like PolicyWeights, on the chunk's examples mixed with as many stored
// examples of earlier tasks (experience replay): the rehearsal baseline of continual learning.
var PolicyReplay Policy = replayPolicy{}

type replayPolicy struct{}

func (replayPolicy) Name() string { return "replay" }

func (replayPolicy) Describe() string {
	return "LoRA fine-tuning only, each task's examples mixed one to one with stored examples of earlier tasks (experience replay): the rehearsal baseline"
}

func (replayPolicy) Channels() Channels { return Channels{Weights: true} }

// Plan draws, without repeats, as many earlier examples as the chunk has (all of them if fewer are stored).
func (replayPolicy) Plan(_ context.Context, c Chunk) (WeightPlan, error) {
	ex := append([]Example(nil), c.Examples...)
	rng := rand.New(rand.NewPCG(c.Options.Slow.Seed, uint64(len(c.Task))))
	for _, i := range rng.Perm(len(c.Earlier))[:min(len(c.Earlier), len(c.Examples))] {
		ex = append(ex, c.Earlier[i])
	}
	return WeightPlan{Pairs: plainPairs(ex), Steps: c.Options.Slow.Steps, Budget: -1}, nil
}
