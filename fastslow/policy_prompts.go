package fastslow

import (
	"context"
	"errors"
)

// PolicyPrompts uses the prompt channel only; the weights never change.
var PolicyPrompts Policy = promptsPolicy{}

type promptsPolicy struct{}

func (promptsPolicy) Name() string { return "prompts" }

func (promptsPolicy) Describe() string {
	return "the prompt channel only; the weights never change"
}

func (promptsPolicy) Channels() Channels { return Channels{Prompts: true} }

func (promptsPolicy) Plan(context.Context, Chunk) (WeightPlan, error) {
	return WeightPlan{}, errors.New("policy prompts: no weight rounds")
}
