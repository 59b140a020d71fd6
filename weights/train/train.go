package train

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/fastslow/fastslow/weights/llama"
)

// Objective is what Run trains: a fixed list of parameters and a loss over token sequences.
//
// LossAndGrad returns the loss summed over the predicted tokens of batch and their number, and adds
// the gradient of that sum to the Grad of every parameter; Run clears the gradients before each step.
// It may work in parallel, but for reproducible runs its result must not depend on goroutine
// scheduling.
type Objective interface {
	Params() []*llama.Param
	LossAndGrad(ctx context.Context, batch []llama.Sequence) (lossSum float64, nTokens int, err error)
}

// Progress reports one finished optimizer step.
type Progress struct {
	Step         int           // steps completed, 1..Total
	Total        int           // steps in the whole run
	Loss         float64       // mean loss per predicted token of this step's batch
	LR           float64       // learning rate the step used
	GradNorm     float64       // global L2 norm of the mean-loss gradient, before clipping
	Tokens       int           // predicted tokens in the batch
	TokensPerSec float64       // all batch tokens (context included) per second of this step
	Elapsed      time.Duration // since this call of Run started
}

// Result summarizes a run.
type Result struct {
	Steps       int           // steps completed, counting those before a resume
	Total       int           // steps in the whole run
	ResumedFrom int           // step the run resumed from a checkpoint, 0 if it started fresh
	Losses      []float64     // mean loss of every completed step, from step 1
	Tokens      int64         // predicted tokens over all completed steps
	Elapsed     time.Duration // wall time of this call
	// Optimizer is AdamW's state after the last completed step, to continue training in another run
	// (Options.Optimizer); nil when the run failed before its optimizer existed.
	Optimizer *OptimizerState
}

// FinalLoss returns the loss of the last completed step, or NaN if none was.
func (r Result) FinalLoss() float64 {
	if len(r.Losses) == 0 {
		return math.NaN()
	}
	return r.Losses[len(r.Losses)-1]
}

// Run trains the parameters of obj on data in place and returns when the run is complete, ctx is
// done, or a step fails.
//
// Each step clears the gradients, asks obj for the loss and gradient of the next batch, divides the
// gradient by the batch's number of predicted tokens, clips it, and applies AdamW with the scheduled
// learning rate (see LearningRate). progress, if not nil, is called after every step.
//
// With opt.CheckpointPath set, an existing checkpoint there is resumed if it was made with the same
// trajectory options, data and parameter names and shapes; otherwise Run fails without touching the
// parameters. The state is saved at the end, every opt.CheckpointEvery steps and when the run stops
// early, so a cancelled run can be continued by calling Run again with the same arguments. When ctx
// is done, the returned error wraps ctx.Err(). A step whose loss or gradient is not finite stops the
// run with an error before the parameters change.
func Run(ctx context.Context, obj Objective, data []llama.Sequence, opt Options, progress func(Progress)) (Result, error) {
	start := time.Now()
	if obj == nil {
		return Result{}, errors.New("train: nil objective")
	}
	opt = opt.withDefaults()
	if err := opt.validate(); err != nil {
		return Result{}, err
	}
	if err := checkData(data); err != nil {
		return Result{}, err
	}
	params := obj.Params()
	if err := checkParams(params); err != nil {
		return Result{}, err
	}
	adam, err := NewAdamW(params, AdamWConfig{
		Beta1: opt.Beta1, Beta2: opt.Beta2, Eps: opt.Eps,
		WeightDecay: opt.WeightDecay, DecayVectors: opt.DecayVectors,
	})
	if err != nil {
		return Result{}, err
	}
	if opt.Optimizer != nil {
		if err := adam.SetState(opt.Optimizer); err != nil {
			return Result{}, err
		}
	}
	st := &runState{
		traj:     opt.trajectory(),
		dataHash: dataHash(data),
		nData:    len(data),
		total:    opt.totalSteps(len(data)),
	}
	res := Result{Total: st.total}
	if opt.CheckpointPath != "" {
		ck, err := openCheckpoint(opt.CheckpointPath)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// Fail now rather than after hours of training at the first save.
			dir := filepath.Dir(opt.CheckpointPath)
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				return res, fmt.Errorf("train: checkpoint directory %s does not exist", dir)
			}
		case errors.Is(err, ErrCorruptCheckpoint):
			return res, fmt.Errorf("train: resume: %w (move the file away to train from the start)", err)
		case err != nil:
			return res, fmt.Errorf("train: resume: %w", err)
		default:
			if err := ck.check(st, params); err != nil {
				return res, err
			}
			if err := ck.load(st, params, adam); err != nil {
				return res, err
			}
			res.ResumedFrom = st.step
		}
	}

	saved := st.step
	save := func() error {
		if opt.CheckpointPath == "" || saved == st.step {
			return nil
		}
		if err := saveCheckpoint(opt.CheckpointPath, st, params, adam); err != nil {
			return err
		}
		saved = st.step
		return nil
	}
	// stop ends the run early, keeping the completed steps in the checkpoint.
	stop := func(cause error) (Result, error) {
		res.Steps, res.Losses, res.Tokens, res.Elapsed = st.step, st.losses, st.tokens, time.Since(start)
		err := save()
		res.Optimizer = adam.takeState()
		if err != nil {
			return res, errors.Join(cause, err)
		}
		return res, cause
	}

	b := &batcher{data: data, ord: newOrder(opt.Seed, len(data)), size: opt.BatchSize, micro: opt.MicroBatch}
	if opt.Steps == 0 {
		b.end = opt.Epochs * len(data) // stream length in Epochs mode
	}
	for st.step < st.total {
		if err := ctx.Err(); err != nil {
			return stop(fmt.Errorf("train: stopped after step %d of %d: %w", st.step, st.total, err))
		}
		p, err := step(ctx, obj, params, adam, b, opt, st)
		if err != nil {
			return stop(err)
		}
		p.Elapsed = time.Since(start)
		if progress != nil {
			progress(p)
		}
		if opt.CheckpointEvery > 0 && st.step%opt.CheckpointEvery == 0 && st.step < st.total {
			if err := save(); err != nil {
				return stop(fmt.Errorf("train: step %d of %d: %w", st.step, st.total, err))
			}
		}
		if opt.Hook != nil && (st.step == st.total || opt.HookEvery <= 1 || st.step%opt.HookEvery == 0) {
			if err := opt.Hook(ctx, st.step); errors.Is(err, ErrStop) {
				break
			} else if err != nil {
				return stop(fmt.Errorf("train: after step %d of %d: %w", st.step, st.total, err))
			}
		}
	}
	res.Steps, res.Losses, res.Tokens, res.Elapsed = st.step, st.losses, st.tokens, time.Since(start)
	err = save()
	res.Optimizer = adam.takeState()
	return res, err
}

// batcher draws the batches of a run from its data in the order of ord.
type batcher struct {
	data  []llama.Sequence
	ord   *order
	size  int // sequences per batch
	micro int // sequences per call of the objective (0: the whole batch)
	end   int // in Epochs mode, the length of the stream; 0 for an endless stream
	buf   []llama.Sequence
}

// batch returns the batch of step k and its number of tokens, context included.
func (b *batcher) batch(k int) ([]llama.Sequence, int) {
	lo, hi := k*b.size, (k+1)*b.size
	if b.end > 0 {
		hi = min(hi, b.end)
	}
	b.buf = b.buf[:0]
	all := 0
	for i := lo; i < hi; i++ {
		s := b.data[b.ord.at(i)]
		b.buf = append(b.buf, s)
		all += len(s.Tokens)
	}
	return b.buf, all
}

// step runs optimizer step st.step+1: the gradient of the next batch, its norm, clipping and AdamW. It
// returns the step's progress, without Elapsed.
func step(ctx context.Context, obj Objective, params []*llama.Param, adam *AdamW, b *batcher, opt Options, st *runState) (Progress, error) {
	stepStart := time.Now()
	batch, allTokens := b.batch(st.step)
	micro := b.micro
	if micro <= 0 || micro > len(batch) {
		micro = max(1, len(batch))
	}
	zeroGrads(params)
	var lossSum float64
	var nTokens int
	for i := 0; i < len(batch); i += micro {
		l, n, err := obj.LossAndGrad(ctx, batch[i:min(i+micro, len(batch))])
		if err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("%w (%w)", ctx.Err(), err)
			}
			return Progress{}, fmt.Errorf("train: step %d of %d: %w", st.step+1, st.total, err)
		}
		lossSum += l
		nTokens += n
	}
	if nTokens <= 0 {
		return Progress{}, fmt.Errorf("train: step %d of %d: the objective counted %d predicted tokens", st.step+1, st.total, nTokens)
	}
	loss := lossSum / float64(nTokens)
	scale := 1 / float64(nTokens)
	norm := gradNorm(params) * scale
	if math.IsNaN(loss) || math.IsInf(loss, 0) || math.IsNaN(norm) || math.IsInf(norm, 0) {
		return Progress{}, fmt.Errorf("train: step %d of %d: loss %v, gradient norm %v; parameters left at step %d",
			st.step+1, st.total, loss, norm, st.step)
	}
	scale *= clipFactor(norm, opt.ClipNorm)
	lr := LearningRate(opt, st.step, st.total)
	if err := adam.Step(lr, scale); err != nil {
		return Progress{}, fmt.Errorf("train: step %d of %d: %w", st.step+1, st.total, err)
	}
	st.step++
	st.losses = append(st.losses, loss)
	st.tokens += int64(nTokens)
	dt := time.Since(stepStart).Seconds()
	return Progress{
		Step: st.step, Total: st.total, Loss: loss, LR: lr, GradNorm: norm, Tokens: nTokens,
		TokensPerSec: float64(allTokens) / max(dt, 1e-9),
	}, nil
}

// checkParams reports parameters the optimizer cannot train, and allocates missing gradient buffers.
func checkParams(params []*llama.Param) error {
	if len(params) == 0 {
		return errors.New("train: the objective has no parameters")
	}
	seen := make(map[string]bool, len(params))
	for i, p := range params {
		if p == nil {
			return fmt.Errorf("train: parameter %d is nil", i)
		}
		if seen[p.Name] {
			return fmt.Errorf("train: parameter name %q appears twice", p.Name)
		}
		seen[p.Name] = true
		n := 1
		for _, d := range p.Shape {
			if d <= 0 {
				return fmt.Errorf("train: parameter %q has shape %v", p.Name, p.Shape)
			}
			n *= d
		}
		if p.Grad == nil {
			p.Grad = make([]float32, len(p.Data))
		}
		if n != len(p.Data) || len(p.Grad) != len(p.Data) {
			return fmt.Errorf("train: parameter %q has shape %v (%d values) but %d values and %d gradients",
				p.Name, p.Shape, n, len(p.Data), len(p.Grad))
		}
	}
	return nil
}

// clipFactor returns the factor that brings a gradient of the given norm down to at most clip, as
// torch.nn.utils.clip_grad_norm_ computes it (including its 1e-6 guard); a clip of 0 means none.
func clipFactor(norm, clip float64) float64 {
	if clip <= 0 {
		return 1
	}
	return min(1, clip/(norm+1e-6))
}
