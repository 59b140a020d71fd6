package lab

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/fastslow/fastslow/eval/world"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/train"
)

// Task B choices for the spurious-forgetting experiment, besides the world's format tasks (world.TaskBrackets,
// world.TaskUpper).
const (
	// SpuriousPeople makes task B the facts of other new people in task A's own format, as in Zheng et al.
	SpuriousPeople = "people"
)

// Task A choices for the spurious-forgetting experiment.
const (
	// TaskAKnown makes task A knowledge from pretraining: facts of people the base model met in its
	// pretraining biographies, nothing trained (Zheng et al.'s A is knowledge the model already has).
	TaskAKnown = "known"
	// TaskANew makes task A the facts of new people, learned into a LoRA adapter first.
	TaskANew = "new"
)

// Recovery data for the spurious-forgetting experiment. None of it contains a fact that is measured.
const (
	// RecoveryNew retrains on facts of new people that neither task A nor task B contains.
	RecoveryNew = "new"
	// RecoveryKnown retrains on questions about people the model met in pretraining: another task in the
	// same format.
	RecoveryKnown = "known"
	// RecoveryHalf retrains on the facts of half of task A's people and measures the other half, Zheng et
	// al.'s protocol: the recovery data were learned with A, the measured facts are not in it.
	RecoveryHalf = "half"
)

// controlPeople is how many new people are never trained: their facts give the probe's chance level.
const controlPeople = 4

// SpuriousOptions configure Spurious. Zero fields take the defaults documented on each.
type SpuriousOptions struct {
	// Base is the model; its weights are never changed (every phase trains a LoRA adapter).
	Base *weights.Model
	// World is the synthetic world the model was pretrained on.
	World world.Options
	// Seeds is the number of seeds (default 3); each draws its own people, adapter and data order.
	Seeds int
	// TaskA is TaskAKnown (default: facts from pretraining, of known people none of whose facts task B asks
	// about, measured where the base answers them right) or TaskANew (facts of new people, learned first).
	TaskA string
	// People is the number of people whose facts (seven each) form task A, and task B when TaskB is
	// SpuriousPeople (default 8).
	People int
	// TaskB is world.TaskBrackets (default: People·7 questions about known people in a conflicting answer
	// format, a task of another format as in the paper), world.TaskUpper, or SpuriousPeople (facts of other
	// new people in task A's own format).
	TaskB string
	// Recovery is the retraining data: RecoveryNew (default: facts unrelated to both tasks), RecoveryHalf (half
	// of A's people, measuring the other half) or RecoveryKnown;
	// RecoveryExamples how many examples of it (default 16), RecoverySteps the optimizer steps (default 20).
	Recovery         string
	RecoveryExamples int
	RecoverySteps    int
	// StepsA and StepsB are the optimizer steps of the two tasks (defaults 120 and 80).
	StepsA, StepsB int
	// LR is the learning rate of tasks A and B (default 3e-3), RecoveryLR of the recovery (default 1e-3);
	// BatchSize is shared (default 8).
	LR, RecoveryLR float64
	BatchSize      int
	// LoRA shapes the adapter (default weights.DefaultLoRA).
	LoRA llama.LoRAConfig
	// Freeze is how many lower blocks a second variant keeps frozen while learning task B (default half the
	// blocks); negative runs no frozen variant.
	Freeze int
	// Distractors is the number of wrong values the likelihood probe compares each answer with (default 9).
	Distractors int
	// Log, if set, receives progress lines.
	Log func(format string, args ...any)
}

func (o *SpuriousOptions) defaults() error {
	if o.Base == nil {
		return errors.New("spurious: a base model is required")
	}
	o.Seeds = cmp.Or(o.Seeds, 3)
	o.People = cmp.Or(o.People, 8)
	o.TaskA = cmp.Or(o.TaskA, TaskAKnown)
	o.TaskB = cmp.Or(o.TaskB, world.TaskBrackets)
	o.Recovery = cmp.Or(o.Recovery, RecoveryNew)
	o.RecoveryExamples = cmp.Or(o.RecoveryExamples, 16)
	o.RecoverySteps = cmp.Or(o.RecoverySteps, 20)
	o.StepsA = cmp.Or(o.StepsA, 120)
	o.StepsB = cmp.Or(o.StepsB, 80)
	o.LR = cmp.Or(o.LR, 3e-3)
	o.RecoveryLR = cmp.Or(o.RecoveryLR, 1e-3)
	o.BatchSize = cmp.Or(o.BatchSize, 8)
	if o.LoRA.Rank == 0 {
		o.LoRA = weights.DefaultLoRA
	}
	o.Freeze = cmp.Or(o.Freeze, o.Base.Config.Layers/2)
	o.Distractors = cmp.Or(o.Distractors, 9)
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	switch {
	case o.Seeds < 0, o.People < 2, o.RecoveryExamples < 0, o.RecoverySteps < 0, o.StepsA < 0, o.StepsB < 0, o.Distractors < 1:
		return fmt.Errorf("spurious: seeds, people (at least 2), recovery examples and steps, steps and distractors must be positive")
	case o.TaskA != TaskAKnown && o.TaskA != TaskANew:
		return fmt.Errorf("spurious: task A %q: want %s or %s", o.TaskA, TaskAKnown, TaskANew)
	case o.TaskB != SpuriousPeople && o.TaskB != world.TaskBrackets && o.TaskB != world.TaskUpper:
		return fmt.Errorf("spurious: task B %q: want %s, %s or %s", o.TaskB, SpuriousPeople, world.TaskBrackets, world.TaskUpper)
	case o.Recovery != RecoveryNew && o.Recovery != RecoveryKnown && o.Recovery != RecoveryHalf:
		return fmt.Errorf("spurious: recovery %q: want %s, %s or %s", o.Recovery, RecoveryNew, RecoveryKnown, RecoveryHalf)
	case o.Freeze >= o.Base.Config.Layers:
		return fmt.Errorf("spurious: freezing %d blocks leaves none of %d to train", o.Freeze, o.Base.Config.Layers)
	}
	return nil
}

// SpuriousRun is one seed and variant of the experiment.
type SpuriousRun struct {
	Seed int `json:"seed"`
	// Variant is "all" (every block learns task B) or "frozen" (the lower Frozen blocks do not).
	Variant string `json:"variant"`
	Frozen  int    `json:"frozen"`
	// Measured is the number of task-A facts measured.
	Measured int `json:"measured"`
	// Accuracy on the measured facts: before any training, after task A, after task B.
	AccBase    float64 `json:"acc_base"`
	AccA       float64 `json:"acc_a"`
	AccAAfterB float64 `json:"acc_a_after_b"`
	// AccB is task B's own accuracy after it was learned.
	AccB float64 `json:"acc_b"`
	// Recovery[s] is the measured accuracy after s recovery steps (Recovery[0] = AccAAfterB).
	Recovery []float64 `json:"recovery"`
	// Forgotten counts measured facts answered right after A and wrong after B; StillKnown how many of them
	// the likelihood probe still ranks above every distractor.
	Forgotten  int `json:"forgotten"`
	StillKnown int `json:"still_known"`
	// Of the forgotten facts, how many were answered right again after the recovery, split by what the
	// probe said before it: the probe is worth something if "still known" facts come back more often.
	RecoveredKnown int `json:"recovered_known"`
	RecoveredGone  int `json:"recovered_gone"`
	// KnownAfterA is the share of measured facts the probe ranks first after A (all of them, right or not);
	// Control the share of never-trained facts ranked first after B: the probe's chance level.
	KnownAfterA float64 `json:"known_after_a"`
	Control     float64 `json:"control"`
	// KnownAfterRecovery is the share of the forgotten facts ranked first after the recovery.
	KnownAfterRecovery float64 `json:"known_after_recovery"`
	Seconds            float64 `json:"seconds"`
}

// SpuriousResult is everything Spurious measured, with the settings that shaped it.
type SpuriousResult struct {
	TaskA            string        `json:"task_a"`
	People           int           `json:"people"`
	TaskB            string        `json:"task_b"`
	Recovery         string        `json:"recovery"`
	RecoveryExamples int           `json:"recovery_examples"`
	RecoverySteps    int           `json:"recovery_steps"`
	StepsA           int           `json:"steps_a"`
	StepsB           int           `json:"steps_b"`
	Freeze           int           `json:"freeze"`
	Layers           int           `json:"layers"`
	Distractors      int           `json:"distractors"`
	Runs             []SpuriousRun `json:"runs"`
	Seconds          float64       `json:"seconds"`
}

// Spurious runs the spurious-forgetting experiment (Zheng et al., ICLR 2025): learn task A (facts about new
// people) into a LoRA adapter, then task B; measure how far A fell; retrain briefly on data that holds none
// of A's measured facts, and measure how much of A returns after each step. A likelihood probe asks, for the
// facts the model now gets wrong, whether the right value is still preferred to other values of the same
// attribute. A second variant freezes the lower blocks while B is learned.
func Spurious(ctx context.Context, opt SpuriousOptions) (*SpuriousResult, error) {
	if err := opt.defaults(); err != nil {
		return nil, err
	}
	w, err := world.New(opt.World)
	if err != nil {
		return nil, fmt.Errorf("spurious: %w", err)
	}
	start := time.Now()
	res := &SpuriousResult{
		TaskA: opt.TaskA, People: opt.People, TaskB: opt.TaskB, Recovery: opt.Recovery, RecoveryExamples: opt.RecoveryExamples,
		RecoverySteps: opt.RecoverySteps, StepsA: opt.StepsA, StepsB: opt.StepsB, Freeze: max(opt.Freeze, 0),
		Layers: opt.Base.Config.Layers, Distractors: opt.Distractors,
	}
	for seed := 1; seed <= opt.Seeds; seed++ {
		runs, err := spuriousSeed(ctx, opt, w, seed)
		if err != nil {
			return nil, fmt.Errorf("spurious: seed %d: %w", seed, err)
		}
		res.Runs = append(res.Runs, runs...)
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// spuriousData is one seed's draw of people and examples.
type spuriousData struct {
	trainA   []world.Example // every fact of A's people
	measured []fact          // the facts whose accuracy is tracked
	taskB    []world.Example
	recovery []world.Example
	items    []ProbeItem // probe items of the measured facts
	control  []ProbeItem // probe items of facts never trained
}

func spuriousDraw(opt SpuriousOptions, w *world.World, seed int) (spuriousData, error) {
	var d spuriousData
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5b0))
	nc := append([]world.Person(nil), w.Newcomers...)
	rng.Shuffle(len(nc), func(i, j int) { nc[i], nc[j] = nc[j], nc[i] })
	next := 0
	take := func(n int) ([]world.Person, error) {
		if next+n > len(nc) {
			return nil, fmt.Errorf("the world has %d new people, %d more wanted (fewer people, fewer recovery examples or another recovery source)", len(nc), next+n-len(nc))
		}
		next += n
		return nc[next-n : next], nil
	}
	nAttr := len(world.Attributes())
	var a []world.Person
	if opt.TaskA == TaskANew {
		var err error
		if a, err = take(opt.People); err != nil {
			return d, err
		}
		d.trainA = examplesOf(factsOf(a))
	}
	if opt.TaskB == SpuriousPeople {
		b, err := take(opt.People)
		if err != nil {
			return d, err
		}
		d.taskB = examplesOf(factsOf(b))
	} else {
		t, err := w.Task(opt.TaskB)
		if err != nil {
			return d, err
		}
		if d.taskB, err = sample(t.Train, opt.People*nAttr, rng); err != nil {
			return d, fmt.Errorf("task B: %w", err)
		}
	}
	if opt.TaskA == TaskAKnown {
		var err error
		if a, err = knownOutside(w, opt.People, d.taskB, rng); err != nil {
			return d, err
		}
	}
	d.measured = factsOf(a)
	ctl, err := take(controlPeople)
	if err != nil {
		return d, err
	}
	switch opt.Recovery {
	case RecoveryNew:
		r, err := take((opt.RecoveryExamples + nAttr - 1) / nAttr)
		if err != nil {
			return d, err
		}
		d.recovery = examplesOf(factsOf(r))[:opt.RecoveryExamples]
	case RecoveryKnown:
		t, err := w.Task(world.TaskQA)
		if err != nil {
			return d, err
		}
		pool := withoutPeople(t.Train, a) // never a measured fact
		if d.recovery, err = sample(pool, opt.RecoveryExamples, rng); err != nil {
			return d, fmt.Errorf("recovery: %w", err)
		}
	case RecoveryHalf:
		half := opt.People / 2
		d.measured = factsOf(a[:half])
		pool := examplesOf(factsOf(a[half:]))
		if opt.RecoveryExamples > len(pool) {
			return d, fmt.Errorf("recovery: %d examples wanted, half of task A has %d", opt.RecoveryExamples, len(pool))
		}
		rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
		d.recovery = pool[:opt.RecoveryExamples]
	}
	values := valuePool(append(append([]world.Person(nil), w.Known...), w.Newcomers...))
	if d.items, err = probeItems(d.measured, values, opt.Distractors, rng); err != nil {
		return d, err
	}
	if d.control, err = probeItems(factsOf(ctl), values, opt.Distractors, rng); err != nil {
		return d, err
	}
	return d, nil
}

// knownOutside draws n people known from pretraining whose names appear in none of the examples ex (task B):
// their facts are measured, and B never asks about them in any format.
func knownOutside(w *world.World, n int, ex []world.Example, rng *rand.Rand) ([]world.Person, error) {
	var out []world.Person
	for _, i := range rng.Perm(len(w.Known)) {
		p := w.Known[i]
		if len(withoutPeople(ex, []world.Person{p})) < len(ex) {
			continue
		}
		if out = append(out, p); len(out) == n {
			return out, nil
		}
	}
	return nil, fmt.Errorf("task A: %d known people outside task B wanted, %d found", n, len(out))
}

// withoutPeople returns the examples of ex that name none of people.
func withoutPeople(ex []world.Example, people []world.Person) []world.Example {
	var out []world.Example
	for _, e := range ex {
		named := false
		for _, p := range people {
			named = named || strings.Contains(e.Prompt, p.Name())
		}
		if !named {
			out = append(out, e)
		}
	}
	return out
}

// sample draws n examples of ex without replacement.
func sample(ex []world.Example, n int, rng *rand.Rand) ([]world.Example, error) {
	if n > len(ex) {
		return nil, fmt.Errorf("%d examples wanted, %d available", n, len(ex))
	}
	idx := rng.Perm(len(ex))[:n]
	out := make([]world.Example, n)
	for i, j := range idx {
		out[i] = ex[j]
	}
	return out, nil
}

func spuriousSeed(ctx context.Context, opt SpuriousOptions, w *world.World, seed int) ([]SpuriousRun, error) {
	start := time.Now()
	m := opt.Base
	d, err := spuriousDraw(opt, w, seed)
	if err != nil {
		return nil, err
	}
	measured := examplesOf(d.measured)
	base, err := answers(ctx, m, measured, nil)
	if err != nil {
		return nil, err
	}
	a, err := llama.NewAdapter(m.Model, opt.LoRA, uint64(seed))
	if err != nil {
		return nil, err
	}
	if len(d.trainA) > 0 { // else A is knowledge from pretraining: nothing to learn
		if err := fit(ctx, m, train.LoRAObjective(m.Model, a), pairsOf(d.trainA), fitOptions(opt.StepsA, opt.BatchSize, opt.LR, uint64(seed)), nil); err != nil {
			return nil, fmt.Errorf("task A: %w", err)
		}
	}
	afterA, err := answers(ctx, m, measured, a)
	if err != nil {
		return nil, err
	}
	probeA, err := Probe(ctx, ModelScorer(m, a), d.items)
	if err != nil {
		return nil, err
	}
	shared := time.Since(start).Seconds()
	variants := []int{0}
	if opt.Freeze > 0 {
		variants = append(variants, opt.Freeze)
	}
	var runs []SpuriousRun
	for _, frozen := range variants {
		vstart := time.Now()
		run := SpuriousRun{Seed: seed, Variant: "all", Frozen: frozen, Measured: len(measured),
			AccBase: share(base), AccA: share(afterA), KnownAfterA: KnownShare(probeA)}
		if frozen > 0 {
			run.Variant = "frozen"
		}
		b, err := cloneAdapter(m.Model, a)
		if err != nil {
			return nil, err
		}
		obj := freezeLower(train.LoRAObjective(m.Model, b), frozen)
		if err := fit(ctx, m, obj, pairsOf(d.taskB), fitOptions(opt.StepsB, opt.BatchSize, opt.LR, uint64(seed)+100), nil); err != nil {
			return nil, fmt.Errorf("task B: %w", err)
		}
		afterB, err := answers(ctx, m, measured, b)
		if err != nil {
			return nil, err
		}
		okB, err := answers(ctx, m, d.taskB, b)
		if err != nil {
			return nil, err
		}
		run.AccAAfterB, run.AccB = share(afterB), share(okB)
		probeB, err := Probe(ctx, ModelScorer(m, b), d.items)
		if err != nil {
			return nil, err
		}
		control, err := Probe(ctx, ModelScorer(m, b), d.control)
		if err != nil {
			return nil, err
		}
		run.Control = KnownShare(control)
		var forgotten []int
		for i := range measured {
			if afterA[i] && !afterB[i] {
				forgotten = append(forgotten, i)
				if probeB[i].Known() {
					run.StillKnown++
				}
			}
		}
		run.Forgotten = len(forgotten)
		final, curve, err := recoverA(ctx, opt, m, b, d, measured, seed)
		if err != nil {
			return nil, err
		}
		run.Recovery = append([]float64{run.AccAAfterB}, curve...)
		var gone []ProbeItem
		for _, i := range forgotten {
			gone = append(gone, d.items[i])
			if final[i] {
				if probeB[i].Known() {
					run.RecoveredKnown++
				} else {
					run.RecoveredGone++
				}
			}
		}
		after, err := Probe(ctx, ModelScorer(m, b), gone)
		if err != nil {
			return nil, err
		}
		run.KnownAfterRecovery = KnownShare(after)
		run.Seconds = time.Since(vstart).Seconds() + shared/float64(len(variants))
		opt.Log("spurious seed %d %-6s: A %.2f → after B %.2f → after %d recovery steps %.2f (B %.2f); %d forgotten, %d still ranked first (control %.2f)",
			seed, run.Variant, run.AccA, run.AccAAfterB, opt.RecoverySteps, run.Recovery[len(run.Recovery)-1], run.AccB, run.Forgotten, run.StillKnown, run.Control)
		runs = append(runs, run)
	}
	return runs, nil
}

// recoverA trains adapter b briefly on the recovery data and measures task A after every step. It returns
// the last answers and the accuracy after each step.
func recoverA(ctx context.Context, opt SpuriousOptions, m *weights.Model, b *llama.Adapter, d spuriousData, measured []world.Example, seed int) ([]bool, []float64, error) {
	if opt.RecoverySteps == 0 || len(d.recovery) == 0 {
		final, err := answers(ctx, m, measured, b)
		return final, nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var curve []float64
	var final []bool
	var evalErr error
	progress := func(train.Progress) {
		ok, err := answers(rctx, m, measured, b)
		if err != nil {
			evalErr = err
			cancel()
			return
		}
		final = ok
		curve = append(curve, share(ok))
	}
	err := fit(rctx, m, train.LoRAObjective(m.Model, b), pairsOf(d.recovery), fitOptions(opt.RecoverySteps, opt.BatchSize, opt.RecoveryLR, uint64(seed)+200), progress)
	if evalErr != nil {
		return nil, nil, evalErr
	}
	if err != nil {
		return nil, nil, fmt.Errorf("recovery: %w", err)
	}
	return final, curve, nil
}
