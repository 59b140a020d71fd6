package lab

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/fastslow/fastslow/eval/metrics"
	"github.com/fastslow/fastslow/eval/world"
	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/llama"
)

// DefaultTasks is the default stream: facts about four new people, questions about people the model met in
// pretraining, facts about four more new people, then fill-in-the-blank facts about known people. Injecting
// facts into weights is where a small model forgets most (its pretraining facts are overwritten), and where
// facts kept as notes in the prompt need no weight change at all.
var DefaultTasks = []string{world.TaskInject, world.TaskQA, world.TaskInject + "2", world.TaskCloze}

// DefaultHeldOut is the task learned after the stream to measure plasticity: facts about yet other people.
const DefaultHeldOut = world.TaskInject + "3"

// Task is one task of a stream with its splits.
type Task struct {
	Name                    string
	Train, Validation, Test []fastslow.Example
}

// StreamOptions configure Stream. Zero fields take the defaults documented on each.
type StreamOptions struct {
	// Base is the model; NewServer returns the server a learner serves through (Ollama, or the in-process
	// engine), and ServerName says which, for the report.
	Base       *weights.Model
	NewServer  func() fastslow.Server
	ServerName string
	// World seeds the synthetic world the default tasks and general-ability probes come from.
	World world.Options
	// Tasks is the stream (default: DefaultTasks from the world); HeldOut the plasticity task (nil: none).
	Tasks   []Task
	HeldOut *Task
	// Policies to compare (default every registered policy) and Seeds per policy (default 3).
	Policies []fastslow.Policy
	Seeds    int
	// Learner is what every run's learner starts from (default fastslow.DefaultOptions(), recognized by a nil
	// Policy): the weight-only policies' steps per task (Slow.Steps), FST's (FSTSteps), its forgetting budget,
	// the adapter's shape, learning rate and batch. Each run sets its own Policy, Base, Server, Name, Probe
	// and Slow.Seed.
	Learner fastslow.Options
	// Chunk is the steps between learning-curve points (default 10).
	Chunk int
	// Target is the validation accuracy the steps-to-target metric asks for (default 0.5).
	Target float64
	// General are general-ability probes served raw (pretraining facts); Prose is held-out text for perplexity
	// and KL to the base.
	General []fastslow.Example
	Prose   []string
	// Retention are further pretraining-fact probes, disjoint from General, that FST's forgetting budget is
	// measured on (with the earlier tasks' validation examples), so the report's general-ability numbers are not
	// the ones the budget guarded.
	Retention []fastslow.Example
	// Dir holds the learners' state (default a temporary directory, removed afterwards).
	Dir string
	// Log, if set, receives progress lines.
	Log func(format string, args ...any)
}

// Run is one policy and seed over the stream.
type Run struct {
	Policy string `json:"policy"`
	Seed   int    `json:"seed"`
	// Matrix is R[k][i]: test accuracy on task i after learning task k, served through the server.
	Matrix metrics.Matrix `json:"matrix"`
	// Steps are the weight steps each task's round kept.
	Steps []int `json:"steps"`
	// Curves[k] is task k's validation accuracy against weight steps during its round (step 0: after the
	// prompt cycle, before any weight step).
	Curves [][]metrics.Point `json:"curves"`
	// StepsToTarget[k] is the first step whose validation accuracy reached Target, or -1 if none did.
	StepsToTarget []int `json:"steps_to_target"`
	// General ability before and after the stream: pretraining-fact accuracy and held-out prose perplexity.
	FactsBefore float64 `json:"facts_before"`
	FactsAfter  float64 `json:"facts_after"`
	PPLBefore   float64 `json:"ppl_before"`
	PPLAfter    float64 `json:"ppl_after"`
	// KL is the mean KL(base ‖ served) of next-token distributions over the held-out prose, in nats.
	KL float64 `json:"kl"`
	// Plasticity is the held-out task's test accuracy gain from one round after the stream.
	Plasticity float64 `json:"plasticity"`
	Seconds    float64 `json:"seconds"`
}

// StreamResult is everything Stream measured.
type StreamResult struct {
	Tasks    []string `json:"tasks"`
	HeldOut  string   `json:"held_out,omitempty"`
	Server   string   `json:"server"`
	Target   float64  `json:"target"`
	Steps    int      `json:"steps"`
	FSTSteps int      `json:"fst_steps"`
	Budget   float64  `json:"budget"`
	Runs     []Run    `json:"runs"`
	Seconds  float64  `json:"seconds"`
}

func (o *StreamOptions) defaults() error {
	if o.Base == nil || o.NewServer == nil {
		return errors.New("stream: a base model and a server are required")
	}
	if len(o.Tasks) == 0 {
		return errors.New("stream: no tasks")
	}
	if len(o.Policies) == 0 {
		o.Policies = fastslow.Policies()
	}
	if o.Seeds == 0 {
		o.Seeds = 3
	}
	if o.Learner.Policy == nil {
		o.Learner = fastslow.DefaultOptions()
	}
	if o.Chunk == 0 {
		o.Chunk = 10
	}
	if o.Target == 0 {
		o.Target = 0.5
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	return nil
}

// Stream runs every policy for every seed over the task stream.
func Stream(ctx context.Context, opt StreamOptions) (*StreamResult, error) {
	if err := opt.defaults(); err != nil {
		return nil, err
	}
	start := time.Now()
	dir := opt.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "fastslow-lab-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	res := &StreamResult{Server: opt.ServerName, Target: opt.Target, Steps: opt.Learner.Slow.Steps, FSTSteps: opt.Learner.FSTSteps, Budget: opt.Learner.Budget}
	for _, t := range opt.Tasks {
		res.Tasks = append(res.Tasks, t.Name)
	}
	if opt.HeldOut != nil {
		res.HeldOut = opt.HeldOut.Name
	}
	base, err := baseline(ctx, opt)
	if err != nil {
		return nil, err
	}
	for _, p := range opt.Policies {
		for seed := 1; seed <= opt.Seeds; seed++ {
			run, err := streamRun(ctx, opt, filepath.Join(dir, fmt.Sprintf("%s-%d", p.Name(), seed)), p, seed, base)
			if err != nil {
				return nil, fmt.Errorf("stream: policy %s seed %d: %w", p.Name(), seed, err)
			}
			opt.Log("%-7s seed %d: average accuracy %.2f, BWT %+.2f, %d weight steps, %.0fs",
				p.Name(), seed, mustAvg(run.Matrix), mustBWT(run.Matrix), sum(run.Steps), run.Seconds)
			res.Runs = append(res.Runs, run)
		}
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// baselineScores are the base model's general-ability numbers, the same for every run.
type baselineScores struct {
	facts, ppl float64
	logits     [][]float32 // base next-token logits over the prose, for KL
}

func baseline(ctx context.Context, opt StreamOptions) (baselineScores, error) {
	var b baselineScores
	var err error
	if b.facts, err = rawAccuracy(ctx, opt.Base, opt.General, nil); err != nil {
		return b, err
	}
	if b.ppl, b.logits, err = prose(opt.Base, opt.Prose, nil); err != nil {
		return b, err
	}
	return b, nil
}

func streamRun(ctx context.Context, opt StreamOptions, dir string, policy fastslow.Policy, seed int, base baselineScores) (Run, error) {
	start := time.Now()
	run := Run{Policy: policy.Name(), Seed: seed, FactsBefore: base.facts, PPLBefore: base.ppl}
	T := len(opt.Tasks)
	run.Curves = make([][]metrics.Point, T)
	byName := map[string]int{}
	for i, t := range opt.Tasks {
		byName[t.Name] = i
	}
	var l *fastslow.Learner // the probe runs inside l.Learn
	probe := func(ctx context.Context, task string, a *llama.Adapter, steps int) error {
		k, ok := byName[task]
		if !ok {
			return nil // the held-out task has no curve
		}
		acc, err := l.EngineAccuracy(ctx, task, opt.Tasks[k].Validation, a)
		if err != nil {
			return err
		}
		run.Curves[k] = append(run.Curves[k], metrics.Point{Step: steps, Value: acc})
		return nil
	}
	srv := opt.NewServer()
	var err error
	lo := opt.Learner
	lo.Policy, lo.Base, lo.Server, lo.Probe = policy, opt.Base, srv, probe
	lo.Name = fmt.Sprintf("lab-%s-s%d-%d", policy.Name(), seed, time.Now().UnixNano()%1e6)
	lo.Slow.Chunk, lo.Slow.Seed = opt.Chunk, uint64(seed)
	l, err = fastslow.NewLearner(ctx, dir, lo)
	if err != nil {
		return run, err
	}
	defer func() {
		cleanup(context.WithoutCancel(ctx), l)
		l.Close()
	}()
	for _, t := range opt.Tasks {
		r, err := l.Learn(ctx, t.Name, t.Train, t.Validation)
		if err != nil {
			return run, err
		}
		run.Steps = append(run.Steps, r.WeightSteps)
		row := make([]float64, T)
		for i, u := range opt.Tasks {
			if row[i], err = l.Accuracy(ctx, u.Name, u.Test); err != nil {
				return run, err
			}
		}
		run.Matrix = append(run.Matrix, row)
		opt.Log("%-7s seed %d: learned %-8s (%2d weight steps)  row %s", policy.Name(), seed, t.Name, r.WeightSteps, fmtRow(row))
	}
	for _, c := range run.Curves {
		step := -1
		for _, p := range c {
			if p.Value >= opt.Target {
				step = p.Step
				break
			}
		}
		run.StepsToTarget = append(run.StepsToTarget, step)
	}
	a := l.Slow().Adapter()
	if run.FactsAfter, err = rawAccuracy(ctx, opt.Base, opt.General, a); err != nil {
		return run, err
	}
	var logits [][]float32
	if run.PPLAfter, logits, err = prose(opt.Base, opt.Prose, a); err != nil {
		return run, err
	}
	if run.KL, err = meanKL(base.logits, logits); err != nil {
		return run, err
	}
	if h := opt.HeldOut; h != nil {
		before, err := l.Accuracy(ctx, h.Name, h.Test)
		if err != nil {
			return run, err
		}
		if _, err := l.Learn(ctx, h.Name, h.Train, h.Validation); err != nil {
			return run, err
		}
		after, err := l.Accuracy(ctx, h.Name, h.Test)
		if err != nil {
			return run, err
		}
		run.Plasticity = after - before
	}
	run.Seconds = time.Since(start).Seconds()
	return run, nil
}

// cleanup removes the learner's adapter models from the server: the lab makes many and keeps none.
func cleanup(ctx context.Context, l *fastslow.Learner) {
	for _, v := range l.Slow().Versions() {
		_ = l.Server().Remove(ctx, v.Handle)
	}
}

// rawAccuracy serves examples without any prompt, with adapter a, in the in-process engine.
func rawAccuracy(ctx context.Context, m *weights.Model, ex []fastslow.Example, a *llama.Adapter) (float64, error) {
	if len(ex) == 0 {
		return 0, nil
	}
	right := 0
	for _, e := range ex {
		ids := m.Tokenizer.Encode(e.Prompt, true)
		out, err := m.Generate(ctx, ids, min(24, m.Config.ContextLength-len(ids)), llama.Sampler{}, a)
		if err != nil {
			return 0, err
		}
		if e.Correct(m.Tokenizer.Decode(out)) {
			right++
		}
	}
	return float64(right) / float64(len(ex)), nil
}

// prose returns the perplexity of the passages and every position's next-token logits.
func prose(m *weights.Model, passages []string, a *llama.Adapter) (float64, [][]float32, error) {
	if len(passages) == 0 {
		return 0, nil, nil
	}
	var sumLL float64
	n := 0
	var rows [][]float32
	V := m.Config.Vocab
	for _, p := range passages {
		ids := m.Tokenizer.Encode(p, true)
		if len(ids) > m.Config.ContextLength {
			ids = ids[:m.Config.ContextLength]
		}
		if len(ids) < 2 {
			continue
		}
		logits, err := m.Logits(ids, a)
		if err != nil {
			return 0, nil, err
		}
		for t := 0; t+1 < len(ids); t++ {
			row := logits[t*V : (t+1)*V]
			lp, err := metrics.LogSoftmax(row)
			if err != nil {
				return 0, nil, err
			}
			sumLL += lp[ids[t+1]]
			n++
			rows = append(rows, row)
		}
	}
	ppl, err := metrics.Perplexity(sumLL, n)
	return ppl, rows, err
}

func meanKL(p, q [][]float32) (float64, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return metrics.MeanKL(p, q)
}

func mustAvg(R metrics.Matrix) float64 {
	v, err := metrics.AverageAccuracy(R)
	if err != nil {
		return math.NaN()
	}
	return v
}

func mustBWT(R metrics.Matrix) float64 {
	if len(R) < 2 {
		return 0
	}
	v, err := metrics.BWT(R)
	if err != nil {
		return math.NaN()
	}
	return v
}

func sum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

func fmtRow(row []float64) string {
	s := "["
	for i, v := range row {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%.2f", v)
	}
	return s + "]"
}

// sortedPolicies returns the policies present in runs in the canonical order.
func sortedPolicies(runs []Run) []string {
	seen := map[string]bool{}
	for _, r := range runs {
		seen[r.Policy] = true
	}
	var out []string
	for _, p := range fastslow.Policies() {
		if seen[p.Name()] {
			out = append(out, p.Name())
		}
	}
	var extra []string
	for p := range seen {
		found := false
		for _, q := range out {
			found = found || q == p
		}
		if !found {
			extra = append(extra, p)
		}
	}
	sort.Strings(extra)
	return append(out, extra...)
}
