package train

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// Learning-rate decay shapes for [Options.Decay].
const (
	DecayCosine   = "cosine"   // half a cosine from LR down to MinLR
	DecayLinear   = "linear"   // a straight line from LR down to MinLR
	DecayConstant = "constant" // LR for every step after warmup
)

// Default values for the zero fields of [Options] listed in its documentation. The optimizer defaults
// are those of torch.optim.AdamW.
const (
	DefaultBatchSize = 8
	DefaultLR        = 1e-3
	DefaultBeta1     = 0.9
	DefaultBeta2     = 0.999
	DefaultEps       = 1e-8
	DefaultDecay     = DecayCosine
)

// Options configures a training run.
//
// A zero BatchSize, LR, Beta1, Beta2, Eps or Decay takes the matching Default value; a zero Warmup,
// MinLR, WeightDecay, ClipNorm or CheckpointEvery turns that feature off. Exactly one of Steps and
// Epochs must be set. Negative values are errors.
type Options struct {
	// Steps is the number of optimizer steps. Batches are drawn from an endless stream of reshuffled
	// epochs, so a batch may straddle two epochs.
	Steps int
	// Epochs, used when Steps is zero, trains on every sequence Epochs times; the last batch may be
	// smaller than BatchSize.
	Epochs int
	// BatchSize is the number of sequences per optimizer step.
	BatchSize int
	// MicroBatch, if positive, splits each batch into calls to Objective.LossAndGrad of at most this
	// many sequences, bounding activation memory. The gradient is the same up to float rounding.
	MicroBatch int

	// LR is the peak learning rate, reached at the end of warmup.
	LR float64
	// Warmup is the number of steps over which the learning rate rises linearly from LR/Warmup to LR.
	Warmup int
	// Decay is the shape of the decay from LR to MinLR over the steps after warmup: DecayCosine,
	// DecayLinear or DecayConstant.
	Decay string
	// MinLR is the floor the decay approaches on the last step.
	MinLR float64

	// WeightDecay is AdamW's decoupled weight decay coefficient. It applies to parameters with two
	// or more dimensions (matrices), and to vectors such as norm weights only if DecayVectors is set.
	WeightDecay  float64
	DecayVectors bool
	// Beta1, Beta2 and Eps are AdamW's moment decay rates and denominator term.
	Beta1, Beta2, Eps float64
	// ClipNorm, if positive, rescales the gradient so its global L2 norm is at most ClipNorm, as
	// torch.nn.utils.clip_grad_norm_ does.
	ClipNorm float64

	// Seed determines the order of the data; the same seed gives the same batches.
	Seed uint64

	// CheckpointPath, if set, is the file where the run's state is saved: every CheckpointEvery
	// steps, when the run ends, and when it stops early (context cancellation or an error). If the
	// file exists when Run starts, training resumes from it.
	CheckpointPath string
	// CheckpointEvery is the number of steps between periodic checkpoints.
	CheckpointEvery int

	// Hook, if set, is called after every HookEvery steps (every step when HookEvery is 0) and after the
	// last step, with the steps completed. It may read and change the parameters: the optimizer's state
	// carries on. If it returns ErrStop the run ends there without an error; any other error ends the run
	// with that error. Callers that check something every few steps (a forgetting budget, a learning curve)
	// keep one optimizer for the whole run this way.
	Hook      func(ctx context.Context, step int) error
	HookEvery int

	// Optimizer, if set, is the AdamW state the run starts from, typically an earlier run's
	// Result.Optimizer: the moments and the step count of the bias correction carry on instead of starting
	// from zero. It must hold exactly the objective's parameters. Run copies it; a checkpoint being resumed
	// holds its own state and takes precedence.
	Optimizer *OptimizerState
}

// ErrStop, returned by Options.Hook, ends a run early without an error.
var ErrStop = errors.New("train: stop requested by the hook")

// withDefaults returns o with the documented defaults filled in.
func (o Options) withDefaults() Options {
	if o.BatchSize == 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.LR == 0 {
		o.LR = DefaultLR
	}
	if o.Beta1 == 0 {
		o.Beta1 = DefaultBeta1
	}
	if o.Beta2 == 0 {
		o.Beta2 = DefaultBeta2
	}
	if o.Eps == 0 {
		o.Eps = DefaultEps
	}
	if o.Decay == "" {
		o.Decay = DefaultDecay
	}
	return o
}

// validate reports every problem with o, which must already have its defaults filled in.
func (o Options) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

	switch {
	case o.Steps < 0:
		bad("Steps is %d, must not be negative", o.Steps)
	case o.Epochs < 0:
		bad("Epochs is %d, must not be negative", o.Epochs)
	case o.Steps == 0 && o.Epochs == 0:
		bad("neither Steps nor Epochs is set")
	case o.Steps > 0 && o.Epochs > 0:
		bad("both Steps (%d) and Epochs (%d) are set; set one", o.Steps, o.Epochs)
	}
	if o.BatchSize < 0 {
		bad("BatchSize is %d, must be positive", o.BatchSize)
	}
	if o.MicroBatch < 0 {
		bad("MicroBatch is %d, must not be negative", o.MicroBatch)
	}
	if !finite(o.LR) || o.LR <= 0 {
		bad("LR is %v, must be a positive number", o.LR)
	}
	if o.Warmup < 0 {
		bad("Warmup is %d, must not be negative", o.Warmup)
	}
	switch o.Decay {
	case DecayCosine, DecayLinear, DecayConstant:
	default:
		bad("Decay is %q, must be %q, %q or %q", o.Decay, DecayCosine, DecayLinear, DecayConstant)
	}
	if !finite(o.MinLR) || o.MinLR < 0 || o.MinLR > o.LR {
		bad("MinLR is %v, must be between 0 and LR (%v)", o.MinLR, o.LR)
	}
	if !finite(o.WeightDecay) || o.WeightDecay < 0 {
		bad("WeightDecay is %v, must not be negative", o.WeightDecay)
	}
	if !finite(o.Beta1) || o.Beta1 < 0 || o.Beta1 >= 1 {
		bad("Beta1 is %v, must be in [0, 1)", o.Beta1)
	}
	if !finite(o.Beta2) || o.Beta2 < 0 || o.Beta2 >= 1 {
		bad("Beta2 is %v, must be in [0, 1)", o.Beta2)
	}
	if !finite(o.Eps) || o.Eps < 0 {
		bad("Eps is %v, must not be negative", o.Eps)
	}
	if !finite(o.ClipNorm) || o.ClipNorm < 0 {
		bad("ClipNorm is %v, must not be negative", o.ClipNorm)
	}
	if o.CheckpointEvery < 0 {
		bad("CheckpointEvery is %d, must not be negative", o.CheckpointEvery)
	}
	if o.HookEvery < 0 {
		bad("HookEvery is %d, must not be negative", o.HookEvery)
	}
	if o.CheckpointEvery > 0 && o.CheckpointPath == "" {
		bad("CheckpointEvery is %d but CheckpointPath is empty", o.CheckpointEvery)
	}
	if len(errs) > 0 {
		return fmt.Errorf("train: invalid options: %w", errors.Join(errs...))
	}
	return nil
}

// totalSteps is the number of optimizer steps a run over n sequences makes.
func (o Options) totalSteps(n int) int {
	if o.Steps > 0 {
		return o.Steps
	}
	return (o.Epochs*n + o.BatchSize - 1) / o.BatchSize
}

// trajectory is the part of Options that determines the sequence of parameter values. A checkpoint
// records it, and a run resumes only if its own trajectory is identical; checkpoint placement and the
// progress callback may change between the two.
type trajectory struct {
	Steps, Epochs, BatchSize, MicroBatch int
	LR                                   float64
	Warmup                               int
	Decay                                string
	MinLR, WeightDecay                   float64
	DecayVectors                         bool
	Beta1, Beta2, Eps, ClipNorm          float64
	Seed                                 uint64
	OptimizerStart                       int `json:",omitempty"` // the step count of Options.Optimizer
}

func (o Options) trajectory() trajectory {
	t := trajectory{
		Steps: o.Steps, Epochs: o.Epochs, BatchSize: o.BatchSize, MicroBatch: o.MicroBatch,
		LR: o.LR, Warmup: o.Warmup, Decay: o.Decay, MinLR: o.MinLR,
		WeightDecay: o.WeightDecay, DecayVectors: o.DecayVectors,
		Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps, ClipNorm: o.ClipNorm, Seed: o.Seed,
	}
	if o.Optimizer != nil {
		t.OptimizerStart = o.Optimizer.Step
	}
	return t
}
