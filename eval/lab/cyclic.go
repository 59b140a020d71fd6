package lab

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/fastslow/fastslow/eval/world"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/train"
)

// Training modes of the cyclic and capacity experiments.
const (
	ModeFull = "full" // every base tensor is trained (the base is restored afterwards)
	ModeLoRA = "lora" // a LoRA adapter is trained, the base stays frozen
)

// Document orders of the cyclic experiment.
const (
	OrderCyclic   = "cyclic"   // the same order every epoch
	OrderShuffled = "shuffled" // a fresh random order every epoch
)

// CyclicOptions configure Cyclic. Zero fields take the defaults documented on each.
type CyclicOptions struct {
	// Base is the model. In ModeFull its weights are trained in place and restored before Cyclic returns,
	// so nothing else may use it meanwhile.
	Base *weights.Model
	// World is the synthetic world the model was pretrained on; the documents are biographies of its new
	// people, never seen in pretraining.
	World world.Options
	// Seeds is the number of seeds (default 3); each draws its own documents and shuffled orders.
	Seeds int
	// Docs is the number of documents (default 8), Epochs the passes over them (default 5) and StepsPerDoc
	// the gradient steps taken on each document at each visit (default 2).
	Docs, Epochs, StepsPerDoc int
	// Mode is ModeFull (default, as in the paper) or ModeLoRA; LoRA shapes the adapter in ModeLoRA (default
	// weights.DefaultLoRA).
	Mode string
	LoRA llama.LoRAConfig
	// LR is the learning rate (default 1e-3 full, 3e-3 LoRA), constant, with AdamW and clipping at 1.
	LR float64
	// Log, if set, receives progress lines.
	Log func(format string, args ...any)
}

func (o *CyclicOptions) defaults() error {
	if o.Base == nil {
		return errors.New("cyclic: a base model is required")
	}
	o.Seeds = cmp.Or(o.Seeds, 3)
	o.Docs = cmp.Or(o.Docs, 8)
	o.Epochs = cmp.Or(o.Epochs, 5)
	o.StepsPerDoc = cmp.Or(o.StepsPerDoc, 2)
	o.Mode = cmp.Or(o.Mode, ModeFull)
	if o.LoRA.Rank == 0 {
		o.LoRA = weights.DefaultLoRA
	}
	if o.LR == 0 {
		o.LR = 1e-3
		if o.Mode == ModeLoRA {
			o.LR = 3e-3
		}
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	switch {
	case o.Seeds < 0 || o.Docs < 2 || o.Epochs < 3 || o.StepsPerDoc < 1 || o.LR < 0:
		return fmt.Errorf("cyclic: want at least 2 documents, 3 epochs (recovery is measured from the third visit) and 1 step per document")
	case (o.Docs-1)*o.StepsPerDoc < 2:
		return fmt.Errorf("cyclic: %d documents × %d steps leave gaps of %d steps between visits; the measure needs at least 2", o.Docs, o.StepsPerDoc, (o.Docs-1)*o.StepsPerDoc)
	case o.Mode != ModeFull && o.Mode != ModeLoRA:
		return fmt.Errorf("cyclic: mode %q: want %s or %s", o.Mode, ModeFull, ModeLoRA)
	}
	return nil
}

// CyclicRun is one seed and order.
type CyclicRun struct {
	Seed  int    `json:"seed"`
	Order string `json:"order"`
	// Visits[t] is the document trained at step t+1.
	Visits []int `json:"visits"`
	// Loss[t][d] is document d's mean loss per token (nats) after t steps; Loss[0] is before training.
	Loss [][]float64 `json:"loss"`
	// Anticipation is the mean, over every gap between two visits of a document from its second visit on,
	// of the document's loss halfway through the gap minus its loss just before the next visit: positive
	// when the loss falls before the document comes round again.
	Anticipation float64 `json:"anticipation"`
	// Gaps is how many gaps the anticipation averages.
	Gaps    int     `json:"gaps"`
	Seconds float64 `json:"seconds"`
}

// CyclicResult is everything Cyclic measured.
type CyclicResult struct {
	Docs        int         `json:"docs"`
	Epochs      int         `json:"epochs"`
	StepsPerDoc int         `json:"steps_per_doc"`
	Mode        string      `json:"mode"`
	LR          float64     `json:"lr"`
	Runs        []CyclicRun `json:"runs"`
	Seconds     float64     `json:"seconds"`
}

// Cyclic runs the anticipatory-recovery experiment (Yang et al., NeurIPS 2024): documents are trained in a
// fixed cyclic order for several epochs, a few gradient steps on each, and the loss on every document is
// measured after every step. Anticipatory recovery is a document's loss falling before it comes round again;
// the same documents in a freshly shuffled order every epoch are the baseline.
func Cyclic(ctx context.Context, opt CyclicOptions) (*CyclicResult, error) {
	if err := opt.defaults(); err != nil {
		return nil, err
	}
	w, err := world.New(opt.World)
	if err != nil {
		return nil, fmt.Errorf("cyclic: %w", err)
	}
	if opt.Docs > len(w.Newcomers) {
		return nil, fmt.Errorf("cyclic: %d documents wanted, the world has %d new people", opt.Docs, len(w.Newcomers))
	}
	start := time.Now()
	res := &CyclicResult{Docs: opt.Docs, Epochs: opt.Epochs, StepsPerDoc: opt.StepsPerDoc, Mode: opt.Mode, LR: opt.LR}
	m := opt.Base
	for seed := 1; seed <= opt.Seeds; seed++ {
		rng := rand.New(rand.NewPCG(uint64(seed), 0xc1c))
		nc := append([]world.Person(nil), w.Newcomers...)
		rng.Shuffle(len(nc), func(i, j int) { nc[i], nc[j] = nc[j], nc[i] })
		docs := make([][]int32, opt.Docs)
		for i := range docs {
			docs[i] = m.Tokenizer.Encode(world.Biography(nc[i], seed+i), true)
			if len(docs[i]) > m.Config.ContextLength {
				docs[i] = docs[i][:m.Config.ContextLength]
			}
		}
		for _, order := range []string{OrderCyclic, OrderShuffled} {
			run, err := cyclicRun(ctx, opt, docs, order, seed, rng)
			if err != nil {
				return nil, fmt.Errorf("cyclic: seed %d %s: %w", seed, order, err)
			}
			opt.Log("cyclic seed %d %-8s: anticipation %+.3f nats/token over %d gaps, final mean loss %.3f (%.0fs)",
				seed, order, run.Anticipation, run.Gaps, mean(run.Loss[len(run.Loss)-1]), run.Seconds)
			res.Runs = append(res.Runs, run)
		}
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// visitOrder lists the document of every visit: epochs passes over n documents, in the same order each
// time (cyclic) or reshuffled each epoch.
func visitOrder(n, epochs int, order string, rng *rand.Rand) []int {
	var out []int
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	for range epochs {
		if order == OrderShuffled {
			rng.Shuffle(n, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		}
		out = append(out, perm...)
	}
	return out
}

func cyclicRun(ctx context.Context, opt CyclicOptions, docs [][]int32, order string, seed int, rng *rand.Rand) (CyclicRun, error) {
	start := time.Now()
	m := opt.Base
	run := CyclicRun{Seed: seed, Order: order}
	var obj train.Objective
	var a *llama.Adapter
	if opt.Mode == ModeFull {
		restore := snapshotBase(m.Model)
		defer restore()
		obj = train.FullObjective(m.Model)
	} else {
		var err error
		if a, err = llama.NewAdapter(m.Model, opt.LoRA, uint64(seed)); err != nil {
			return run, err
		}
		obj = train.LoRAObjective(m.Model, a)
	}
	params := obj.Params()
	adam, err := train.NewAdamW(params, train.AdamWConfig{Beta1: train.DefaultBeta1, Beta2: train.DefaultBeta2, Eps: train.DefaultEps})
	if err != nil {
		return run, err
	}
	losses := func() ([]float64, error) {
		row := make([]float64, len(docs))
		for d, toks := range docs {
			ll, n, err := m.LogLikelihood(toks[:1], toks[1:], a)
			if err != nil {
				return nil, err
			}
			row[d] = -ll / float64(n)
		}
		return row, nil
	}
	row, err := losses()
	if err != nil {
		return run, err
	}
	run.Loss = append(run.Loss, row)
	for _, d := range visitOrder(len(docs), opt.Epochs, order, rng) {
		for range opt.StepsPerDoc {
			if err := sgdStep(ctx, obj, params, adam, llama.Sequence{Tokens: docs[d], Start: 1}, opt.LR); err != nil {
				return run, err
			}
			run.Visits = append(run.Visits, d)
			if row, err = losses(); err != nil {
				return run, err
			}
			run.Loss = append(run.Loss, row)
		}
	}
	run.Anticipation, run.Gaps = anticipation(run.Visits, run.Loss, len(docs))
	run.Seconds = time.Since(start).Seconds()
	return run, nil
}

// sgdStep takes one AdamW step on one sequence: the gradient of its mean token loss, clipped to norm 1.
func sgdStep(ctx context.Context, obj train.Objective, params []*llama.Param, adam *train.AdamW, seq llama.Sequence, lr float64) error {
	for _, p := range params {
		clear(p.Grad)
	}
	_, n, err := obj.LossAndGrad(ctx, []llama.Sequence{seq})
	if err != nil {
		return err
	}
	if n == 0 {
		return errors.New("a document with no predicted tokens")
	}
	var sq float64
	for _, p := range params {
		for _, g := range p.Grad {
			sq += float64(g) * float64(g)
		}
	}
	norm := math.Sqrt(sq) / float64(n)
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		return fmt.Errorf("gradient norm %v", norm)
	}
	scale := 1 / float64(n)
	if norm > 1 {
		scale /= norm
	}
	return adam.Step(lr, scale)
}

// gap is the stretch between the end of one visit of a document and the start of its next: loss rows
// from (end) to (next), in steps.
type gap struct{ doc, end, next int }

// gaps lists every gap between consecutive visits of each document, from its second visit on (the first gap
// only shows forgetting: recovery needs the order to have been seen).
func gaps(visits []int, docs int) []gap {
	var out []gap
	lastEnd := make([]int, docs)
	seen := make([]int, docs)
	for t := 0; t < len(visits); t++ {
		d := visits[t]
		if t > 0 && visits[t-1] == d {
			continue // still the same visit
		}
		if seen[d] >= 2 {
			out = append(out, gap{doc: d, end: lastEnd[d], next: t})
		}
		seen[d]++
		e := t
		for e < len(visits) && visits[e] == d {
			e++
		}
		lastEnd[d] = e
	}
	return out
}

// anticipation averages, over the gaps of at least two steps, a document's loss halfway through the gap
// minus its loss just before its next visit.
func anticipation(visits []int, loss [][]float64, docs int) (float64, int) {
	var sum float64
	n := 0
	for _, g := range gaps(visits, docs) {
		if g.next-g.end < 2 {
			continue
		}
		mid := g.end + (g.next-g.end)/2
		sum += loss[mid][g.doc] - loss[g.next][g.doc]
		n++
	}
	if n == 0 {
		return 0, 0
	}
	return sum / float64(n), n
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
