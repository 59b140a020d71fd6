package fastslow

import (
	"context"
	"fmt"
	"strings"

	"github.com/fastslow/fastslow/weights"
)

// A Policy decides what a chunk of examples does to each channel: whether the fast channel (prompts) learns
// from it and serves the task's prompt, and how the slow channel (weights) trains on it. A policy is a value;
// every policy is found through one registry (Policies, ParsePolicy), which the configuration, the command
// line and the forgetting lab all read, so adding one is one file and one line in registry.
type Policy interface {
	// Name is the policy's name in configuration files, flags and reports.
	Name() string
	// Describe is one sentence saying what the policy does, for help texts and reports.
	Describe() string
	// Channels says which channels the policy uses.
	Channels() Channels
	// Plan returns the weight round a chunk of examples gets. It is called, after the chunk's prompt cycle
	// when Channels().Prompts, only for policies whose Channels().Weights is set.
	Plan(ctx context.Context, c Chunk) (WeightPlan, error)
}

// Channels are the channels a policy uses.
type Channels struct {
	// Prompts: each round runs a prompt cycle, corrections become notes and demos, and inputs are served
	// inside the task's promoted prompt. Without it inputs are served alone.
	Prompts bool
	// Weights: each round may train the adapter (Policy.Plan), and corrections wait for the next weight round.
	Weights bool
}

// Chunk is what a policy plans a weight round from: the task, its examples, the learner's options and
// access to the fast channel and to the examples of earlier tasks.
type Chunk struct {
	Task     string
	Examples []Example
	// Options are the learner's options (read only).
	Options Options
	// Fast is the learner's fast channel, to render the prompts the weights train with.
	Fast *FastChannel
	// Earlier holds the training examples of the tasks learned before, oldest first, at most
	// Options.ReplayMemory per task.
	Earlier []Example
}

// WeightPlan is one weight round as a policy planned it.
type WeightPlan struct {
	// Pairs are what the adapter trains on; none means no weight round.
	Pairs []weights.Pair
	// Steps is the most optimizer steps of the round.
	Steps int
	// Budget is the largest drop of retention accuracy the round may cause; negative means unbounded.
	Budget float64
}

// registry holds every policy, in the order they are listed in help texts and compared in the lab.
var registry = []Policy{
	PolicyFST,
	PolicyWeights,
	PolicyPrompts,
	PolicyReplay,
}

// Policies lists every registered policy.
func Policies() []Policy { return append([]Policy(nil), registry...) }

// PolicyNames lists the names of every registered policy.
func PolicyNames() []string {
	names := make([]string, len(registry))
	for i, p := range registry {
		names[i] = p.Name()
	}
	return names
}

// ParsePolicy returns the registered policy called name.
func ParsePolicy(name string) (Policy, error) {
	for _, p := range registry {
		if p.Name() == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("unknown policy %q (want one of %s)", name, strings.Join(PolicyNames(), ", "))
}

// plainPairs are examples as the weights see them without a prompt: input and completion alone.
func plainPairs(ex []Example) []weights.Pair {
	pairs := make([]weights.Pair, len(ex))
	for i, e := range ex {
		pairs[i] = weights.Pair{Prompt: e.Prompt, Completion: e.Completion}
	}
	return pairs
}
