package fastslow

import "context"

// PolicyWeights trains the adapter only, on the bare examples and without a forgetting budget: the usual
// fine-tuning baseline.
var PolicyWeights Policy = weightsPolicy{}

type weightsPolicy struct{}

func (weightsPolicy) Name() string { return "weights" }

func (weightsPolicy) Describe() string {
	return "LoRA fine-tuning only, one adapter trained on task after task: the usual baseline"
}

func (weightsPolicy) Channels() Channels { return Channels{Weights: true} }

func (weightsPolicy) Plan(_ context.Context, c Chunk) (WeightPlan, error) {
	return WeightPlan{Pairs: plainPairs(c.Examples), Steps: c.Options.Slow.Steps, Budget: -1}, nil
}
