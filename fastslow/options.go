package fastslow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/llama"
)

// Options configure a Learner. Start from DefaultOptions and change what you need: every field's zero value
// means zero (no demos, a forgetting budget of 0, ...), never "the default". Each default is defined here
// (and in DefaultSlowOptions for the slow channel) and nowhere else; the command line's configuration takes
// its defaults from these.
type Options struct {
	// Policy routes examples (default PolicyFST).
	Policy Policy
	// Name prefixes this learner's models on the server. Empty (the default) derives a name from the state
	// directory, so two learners never share a model.
	Name string
	// StoreDir, if set, is the prompt store's directory, for a store shared with other tools (default
	// <dir>/prompts).
	StoreDir string
	// Base is the model adapted, Server what serves it (an OllamaServer or an EngineServer). NewLearner needs
	// both; Open fills them in.
	Base   *weights.Model
	Server Server

	// Slow shapes weight rounds (default DefaultSlowOptions()); an FST round takes FSTSteps steps instead of
	// Slow.Steps (default 20, a third of the default Slow.Steps).
	Slow     SlowOptions
	FSTSteps int
	// Budget is the forgetting budget of FST rounds: the largest drop of retention accuracy allowed, in [0, 1]
	// (default 0.05). Weight-only rounds are not bounded: they are the baselines.
	Budget float64
	// Retention is what the model must keep knowing besides the tasks it learned (for example facts from its
	// pretraining), asked with their raw prompts. With the earlier tasks' validation examples, served with their
	// prompts, it forms the retention set the forgetting budget is measured on.
	Retention []Example
	// ReplayMemory is how many training examples of each task are kept for policies that replay earlier
	// tasks (default 64).
	ReplayMemory int
	// Demos is the most demonstrations a prompt candidate carries (default 3), Notes the facts retrieved into
	// each prompt (default 2), MaxPromptChars the assembled prompt's length limit (default 640; 0: none).
	Demos, Notes, MaxPromptChars int
	// MaxNewTokens bounds every answer (default 24).
	MaxNewTokens int
	// SharedPrompt, if set, names the one prompt every task is improved and served under (default "": each
	// task has its own prompt, and serving must know the task). Weight rounds, replay memory and the
	// forgetting budget's retention set still keep tasks apart.
	SharedPrompt string
	// Flush says when corrections waiting for a weight round start one in the background (default: after 8
	// corrections of a task, or when the oldest has waited 10 minutes).
	Flush FlushPolicy
	// Deploy says how weight versions are served: adapter, merged or auto (default DefaultDeployOptions(): auto,
	// each merged tensor in the base's type, 3 merged versions kept). The zero value means the default.
	Deploy DeployOptions
	// Events, if set, receives progress.
	Events func(Event)
	// Probe, if set, is called during Learn with the task, the adapter being trained (nil for the base) and
	// the round's weight steps so far: once after the prompt cycle (steps 0) and after every weight chunk. The
	// forgetting lab draws learning curves with it.
	Probe func(ctx context.Context, task string, a *llama.Adapter, steps int) error
}

// DefaultOptions returns the default options of a Learner.
func DefaultOptions() Options {
	slow := DefaultSlowOptions()
	return Options{
		Policy:         PolicyFST,
		Slow:           slow,
		FSTSteps:       slow.Steps / 3,
		Budget:         slow.Budget,
		ReplayMemory:   64,
		Demos:          3,
		Notes:          2,
		MaxPromptChars: 640,
		MaxNewTokens:   24,
		Flush:          FlushPolicy{After: 8, Every: 10 * time.Minute},
		Deploy:         DefaultDeployOptions(),
	}
}

// validate reports the first option that cannot work.
func (o Options) validate() error {
	switch {
	case o.Policy == nil:
		return errors.New("no policy (start from fastslow.DefaultOptions())")
	case o.Base == nil && o.Server == nil:
		return errors.New("no base model and no server (use fastslow.Open, or set Options.Base and Options.Server)")
	case o.Base == nil:
		return errors.New("no base model (Options.Base)")
	case o.Server == nil:
		return errors.New("no server (Options.Server: NewOllamaServer or NewEngineServer)")
	case o.FSTSteps < 0 || o.ReplayMemory < 0 || o.Demos < 0 || o.Notes < 0 || o.MaxPromptChars < 0:
		return fmt.Errorf("negative option (FSTSteps %d, ReplayMemory %d, Demos %d, Notes %d, MaxPromptChars %d)",
			o.FSTSteps, o.ReplayMemory, o.Demos, o.Notes, o.MaxPromptChars)
	case o.Budget < 0 || o.Budget > 1:
		return fmt.Errorf("forgetting budget %g is outside [0, 1]", o.Budget)
	case o.Flush.After < 0 || o.Flush.Every < 0:
		return fmt.Errorf("negative flush policy %+v", o.Flush)
	case o.MaxNewTokens < 1:
		return fmt.Errorf("MaxNewTokens %d: an answer needs at least one token", o.MaxNewTokens)
	}
	return o.Slow.validate()
}
