package lab

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
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

// SharedPrompt is the name of the one prompt the lab serves a whole stream under (fastslow.Options.SharedPrompt):
// the served model is never told which task a question belongs to.
const SharedPrompt = "stream"

// Arm is one configuration the lab compares: a policy, how it is served, and its learning rate and weight
// steps per task (chosen by the sweep when StreamOptions.Sweep is set).
type Arm struct {
	// Name labels the arm in the report: the policy's name, with a suffix for a variant.
	Name   string
	Policy fastslow.Policy
	// PerTaskPrompt serves each task's questions under that task's own prompt: the task's identity is handed
	// to the served model (an oracle the default, one shared prompt, does without).
	PerTaskPrompt bool
	// LR and Steps override the learner's learning rate and weight steps per task (Slow.Steps and FSTSteps
	// alike) when positive.
	LR    float64
	Steps int
	// Slow, if set, changes the slow channel's options of the arm's learners (a baseline's regularizer, frozen
	// blocks or adapter shape); Describe then says what it does, for the report.
	Slow     func(*fastslow.SlowOptions)
	Describe string
}

// BaselineWeightDecay is the L2-to-base baseline's decoupled weight decay: at the swept learning rates
// (5e-4 to 5e-3) it shrinks the adapter toward the base by 0.5–5% a step, as strong as a step's update.
const BaselineWeightDecay = 10

// Baselines are the continual-learning baselines at the weight-only policy's budget, each swept like every
// other weight-training arm: L2 to the base (AdamW weight decay of the LoRA factors), LoRA on the upper half
// of the blocks only (the lower ones frozen), and a rank-1 LoRA (alpha scaled to keep alpha/rank). Replay is
// a registered policy (fastslow.PolicyReplay) and runs as a headline arm.
func Baselines(blocks int) []Arm {
	w := fastslow.PolicyWeights
	return []Arm{
		{Name: "weights:l2", Policy: w, Describe: fmt.Sprintf("weight-only fine-tuning with L2 to the base: AdamW's decoupled weight decay %g on the LoRA factors pulls the adapted weights toward the base's", float64(BaselineWeightDecay)),
			Slow: func(o *fastslow.SlowOptions) { o.WeightDecay = BaselineWeightDecay }},
		{Name: "weights:freeze", Policy: w, Describe: fmt.Sprintf("weight-only fine-tuning with the lower %d of %d blocks frozen (LoRA only on the upper blocks)", blocks/2, blocks),
			Slow: func(o *fastslow.SlowOptions) { o.FreezeBelow = blocks / 2 }},
		{Name: "weights:rank1", Policy: w, Describe: "weight-only fine-tuning with a rank-1 LoRA (alpha/rank kept)",
			Slow: func(o *fastslow.SlowOptions) {
				ratio := float32(1)
				if o.LoRA.Rank > 0 && o.LoRA.Alpha != 0 {
					ratio = o.LoRA.Alpha / float32(o.LoRA.Rank)
				}
				o.LoRA.Rank, o.LoRA.Alpha = 1, ratio
			}},
	}
}

// Setting is a learning rate and a weight-step budget per task.
type Setting struct {
	LR    float64 `json:"lr"`
	Steps int     `json:"steps"`
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
	// Tasks is the stream and HeldOut the plasticity task (nil: none), the same for every seed; Data, if set,
	// replaces both and builds them for each seed, so that seeds vary the world (which people, which facts,
	// which examples in which order) as well as the learner.
	Tasks   []Task
	HeldOut *Task
	Data    func(seed int) ([]Task, *Task, error)
	// Arms are the configurations compared (default: every registered policy, served under one shared prompt);
	// Policies, if set and Arms is not, makes one arm per policy.
	Arms     []Arm
	Policies []fastslow.Policy
	// Seeds per arm (default 10); seeds 1..Seeds.
	Seeds int
	// Sweep, if set, chooses each weight-training arm's learning rate and steps per task: every setting runs
	// on SweepSeeds seeds of their own (numbered from 1001, so no headline seed is reused), is scored on
	// validation data only (the final row's mean validation accuracy), and the best setting is the arm's for
	// the headline runs. Arms without weights are not swept; a per-task-prompt variant is not swept either and
	// takes the setting its shared-prompt arm (same name without PerTaskSuffix) was given.
	Sweep      []Setting
	SweepSeeds int
	// Ablations, if set, adds the ablation arms (prompts × retention gate × replay, every one at the fst arm's
	// chosen setting and step budget) after the headline arms, run on seeds 1..AblationSeeds (default Seeds).
	// The per-task-prompt variants (Arm.PerTaskPrompt) also run on seeds 1..AblationSeeds.
	Ablations     bool
	AblationSeeds int
	// Learner is what every run's learner starts from (default fastslow.DefaultOptions(), recognized by a nil
	// Policy). Each run sets its own Policy, Base, Server, Name, Probe, Retention, SharedPrompt and Slow.Seed.
	Learner fastslow.Options
	// Chunk is the steps between learning-curve points (default 10).
	Chunk int
	// Target is the validation accuracy the steps-to-target metric asks for (default 0.5).
	Target float64
	// General are general-ability probes served raw (pretraining facts); Prose is held-out text for perplexity
	// and KL to the base.
	General []fastslow.Example
	Prose   []string
	// Retention are further pretraining-fact probes, disjoint from General, that the forgetting budget is
	// measured on (with the earlier tasks' validation examples): the learner's Options.Retention. The report's
	// general-ability numbers are thus not the ones the budget guarded.
	Retention []fastslow.Example
	// Dir holds the learners' state (default a temporary directory, removed afterwards).
	Dir string
	// Parallel is how many runs go at once (default GOMAXPROCS): runs are independent, each with its own
	// learner and state, and the in-process engine is safe for concurrent use.
	Parallel int
	// NoCache turns off the cache of the base model's answers shared by the runs (see countingServer).
	NoCache bool
	cache   *answerCache
	// Log, if set, receives progress lines.
	Log func(format string, args ...any)
	// Audit, if set, sees every text the learners are given or the server is asked during learning, with its
	// stage: "train", "validation" and "retention" (examples handed to a learner), "learning" (prompts the
	// server answered inside Learn: prompt search, promotion), "store" (the whole prompt store after each
	// round, as fastslow prompts export writes it: every note, demo, lesson and candidate any prompt, weight
	// pair or gate check is rendered from), "sweep" (anything the sweep evaluated) and "test" (the lab's own
	// test questions). A test-split example must only ever appear under "test".
	Audit    func(stage, text string)
	auditing bool
}

// Run is one arm and seed over the stream.
type Run struct {
	Policy string  `json:"policy"` // the arm's name
	Seed   int     `json:"seed"`
	LR     float64 `json:"lr"`
	Steps  int     `json:"steps_per_task"`
	// Split is what Matrix is measured on: "test" for the headline and ablation runs, "validation" for the
	// sweep.
	Split string `json:"split"`
	// Matrix is R[k][i]: accuracy on task i's Split after learning task k, served through the server.
	Matrix metrics.Matrix `json:"matrix"`
	// WeightSteps are the weight steps each task's round kept.
	WeightSteps []int `json:"weight_steps"`
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
	// Channels splits the earlier tasks' drop by channel (arms with prompts and weights, not the ablations).
	Channels *ChannelDrop `json:"channels,omitempty"`
	// Plasticity is the held-out task's test accuracy gain from one round after the stream.
	Plasticity float64 `json:"plasticity"`
	// OpenBook is the share of the last row's right answers whose answer string was in the served prompt (a
	// retrieved note): answered with the book open, not from the weights.
	OpenBook float64 `json:"open_book"`
	// Cost: generations the server ran inside Learn (prompt search and promotion), answers the forgetting
	// gate's retention checks generated (in the in-process engine), and the seconds Learn took. Generations
	// counts every answer the policy asked for, also those the lab served from its cache of the base model's
	// answers (CachedGenerations of them), so LearnSeconds is a lower bound on the policy's time alone.
	Generations       int     `json:"generations"`
	GateGenerations   int     `json:"gate_generations"`
	CachedGenerations int     `json:"cached_generations"`
	LearnSeconds      float64 `json:"learn_seconds"`
	Seconds           float64 `json:"seconds"`
}

// StreamResult is everything Stream measured.
type StreamResult struct {
	Tasks    []string `json:"tasks"`
	HeldOut  string   `json:"held_out,omitempty"`
	Server   string   `json:"server"`
	Target   float64  `json:"target"`
	Steps    int      `json:"steps"`
	FSTSteps int      `json:"fst_steps"`
	LR       float64  `json:"lr"`
	Budget   float64  `json:"budget"`
	Seeds    int      `json:"seeds"`
	// AblationSeeds is how many of the seeds the ablation arms ran.
	AblationSeeds int       `json:"ablation_seeds,omitempty"`
	Sweep         []Setting `json:"sweep,omitempty"`
	// Chosen is each swept arm's validation-best setting.
	Chosen map[string]Setting `json:"chosen,omitempty"`
	// Describe says what the arms that are not a registered policy as such do (the baselines).
	Describe map[string]string `json:"describe,omitempty"`
	// Arms lists the headline arms and Ablation the ablation arms, in order.
	Arms     []string `json:"arms"`
	Ablation []string `json:"ablation,omitempty"`
	Runs     []Run    `json:"runs"`
	// SweepRuns are the sweep's runs, measured on validation data.
	SweepRuns []Run   `json:"sweep_runs,omitempty"`
	Seconds   float64 `json:"seconds"`
}

func (o *StreamOptions) defaults() error {
	if o.Base == nil || o.NewServer == nil {
		return errors.New("stream: a base model and a server are required")
	}
	if len(o.Tasks) == 0 && o.Data == nil {
		return errors.New("stream: no tasks")
	}
	if o.Data == nil {
		tasks, held := o.Tasks, o.HeldOut
		o.Data = func(int) ([]Task, *Task, error) { return tasks, held, nil }
	}
	if len(o.Arms) == 0 {
		if len(o.Policies) == 0 {
			o.Policies = fastslow.Policies()
		}
		for _, p := range o.Policies {
			o.Arms = append(o.Arms, Arm{Name: p.Name(), Policy: p})
		}
	}
	if o.Seeds == 0 {
		o.Seeds = 10
	}
	if o.AblationSeeds == 0 || o.AblationSeeds > o.Seeds {
		o.AblationSeeds = o.Seeds
	}
	if o.SweepSeeds == 0 {
		o.SweepSeeds = 2
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
	o.auditing = o.Audit != nil
	if o.Audit == nil {
		o.Audit = func(string, string) {}
	} else {
		var mu sync.Mutex
		audit := o.Audit
		o.Audit = func(stage, text string) { mu.Lock(); defer mu.Unlock(); audit(stage, text) }
	}
	if o.Parallel <= 0 {
		o.Parallel = runtime.GOMAXPROCS(0)
	}
	if !o.NoCache {
		o.cache = &answerCache{}
	}
	return nil
}

// job is one run to do.
type job struct {
	dir   string
	arm   Arm
	seed  int
	split string
}

// runAll does the jobs, Parallel at a time, and returns their runs in the jobs' order.
func runAll(ctx context.Context, opt StreamOptions, jobs []job, base baselineScores) ([]Run, error) {
	runs := make([]Run, len(jobs))
	errs := make([]error, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range min(opt.Parallel, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				j := jobs[i]
				runs[i], errs[i] = streamRun(ctx, opt, j.dir, j.arm, j.seed, j.split, base)
				if errs[i] != nil {
					errs[i] = fmt.Errorf("%s seed %d: %w", j.arm.Name, j.seed, errs[i])
					cancel()
					continue
				}
				if j.split == "test" {
					r := runs[i]
					opt.Log("%-7s seed %2d: average accuracy %.2f, BWT %+.2f, %d weight steps, %d generations, %.0fs",
						j.arm.Name, j.seed, mustAvg(r.Matrix), mustBWT(r.Matrix), sum(r.WeightSteps), r.Generations, r.Seconds)
				}
			}
		}()
	}
	for i := range jobs {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return nil, err
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return runs, nil
}

// Stream runs the sweep (when set), then every arm at its chosen setting for every seed over the task stream,
// then the ablation arms (when set).
func Stream(ctx context.Context, opt StreamOptions) (*StreamResult, error) {
	if err := opt.defaults(); err != nil {
		return nil, err
	}
	start := time.Now()
	dir, done, err := workDir(opt.Dir, "fastslow-lab-")
	if err != nil {
		return nil, err
	}
	defer done()
	res := &StreamResult{Server: opt.ServerName, Target: opt.Target, Steps: opt.Learner.Slow.Steps, FSTSteps: opt.Learner.FSTSteps,
		LR: opt.Learner.Slow.LR, Budget: opt.Learner.Budget, Seeds: opt.Seeds, AblationSeeds: opt.AblationSeeds, Sweep: opt.Sweep, Chosen: map[string]Setting{}}
	tasks, held, err := opt.Data(1)
	if err != nil {
		return nil, err
	}
	for _, t := range tasks {
		res.Tasks = append(res.Tasks, t.Name)
	}
	if held != nil {
		res.HeldOut = held.Name
	}
	base, err := baseline(ctx, opt)
	if err != nil {
		return nil, err
	}
	// The sweep: validation data only, seeds of its own.
	arms := append([]Arm(nil), opt.Arms...)
	if len(opt.Sweep) > 0 {
		var jobs []job
		for _, a := range arms {
			if !a.Policy.Channels().Weights || a.PerTaskPrompt {
				continue
			}
			for _, s := range opt.Sweep {
				for k := range opt.SweepSeeds {
					seed := 1001 + k
					b := a
					b.LR, b.Steps = s.LR, s.Steps
					jobs = append(jobs, job{filepath.Join(dir, fmt.Sprintf("sweep-%s-%g-%d-%d", slug(a.Name), s.LR, s.Steps, seed)), b, seed, "validation"})
				}
			}
		}
		runs, err := runAll(ctx, opt, jobs, base)
		if err != nil {
			return nil, fmt.Errorf("stream: sweep: %w", err)
		}
		res.SweepRuns = runs
		for i, a := range arms {
			if !a.Policy.Channels().Weights || a.PerTaskPrompt {
				continue
			}
			best, bestScore := Setting{}, math.Inf(-1)
			for _, s := range opt.Sweep {
				var scores []float64
				for _, run := range runs {
					if run.Policy == a.Name && run.LR == s.LR && run.Steps == s.Steps {
						scores = append(scores, mustAvg(run.Matrix))
					}
				}
				score := mean(scores)
				opt.Log("sweep   %-7s lr %-6g steps %3d: validation average accuracy %.3f", a.Name, s.LR, s.Steps, score)
				if score > bestScore+1e-12 { // ties keep the earlier (cheaper, listed first) setting
					best, bestScore = s, score
				}
			}
			arms[i].LR, arms[i].Steps = best.LR, best.Steps
			res.Chosen[a.Name] = best
		}
		for i, a := range arms {
			if base, ok := strings.CutSuffix(a.Name, PerTaskSuffix); ok && a.PerTaskPrompt {
				if s, ok := res.Chosen[base]; ok {
					arms[i].LR, arms[i].Steps = s.LR, s.Steps
				}
			}
		}
	}
	if opt.Ablations {
		var fst *Arm
		for i := range arms {
			if arms[i].Policy == fastslow.PolicyFST && !arms[i].PerTaskPrompt {
				fst = &arms[i]
			}
		}
		for _, p := range AblationPolicies() {
			a := Arm{Name: p.Name(), Policy: p}
			if fst != nil {
				a.LR, a.Steps = fst.LR, fst.Steps
			}
			arms = append(arms, a)
			res.Ablation = append(res.Ablation, a.Name)
		}
	}
	var jobs []job
	for i, a := range arms {
		if a.Describe != "" {
			if res.Describe == nil {
				res.Describe = map[string]string{}
			}
			res.Describe[a.Name] = a.Describe
		}
		seeds := opt.Seeds
		if i < len(opt.Arms) {
			res.Arms = append(res.Arms, a.Name)
		}
		if i >= len(opt.Arms) || a.PerTaskPrompt {
			seeds = opt.AblationSeeds
		}
		for seed := 1; seed <= seeds; seed++ {
			jobs = append(jobs, job{filepath.Join(dir, fmt.Sprintf("%s-%d", slug(a.Name), seed)), a, seed, "test"})
		}
	}
	if res.Runs, err = runAll(ctx, opt, jobs, base); err != nil {
		return nil, fmt.Errorf("stream: %w", err)
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// slug makes an arm's name usable in a file name.
func slug(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, s)
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

func streamRun(ctx context.Context, opt StreamOptions, dir string, arm Arm, seed int, split string, base baselineScores) (Run, error) {
	start := time.Now()
	tasks, held, err := opt.Data(seed)
	if err != nil {
		return Run{}, err
	}
	run := Run{Policy: arm.Name, Seed: seed, Split: split, FactsBefore: base.facts, PPLBefore: base.ppl}
	evalStage := "test"
	if split != "test" {
		evalStage = "sweep"
	}
	pick := func(t Task) []fastslow.Example {
		if split == "test" {
			return t.Test
		}
		return t.Validation
	}
	T := len(tasks)
	run.Curves = make([][]metrics.Point, T)
	byName := map[string]int{}
	for i, t := range tasks {
		byName[t.Name] = i
	}
	var l *fastslow.Learner // the probe runs inside l.Learn
	probe := func(ctx context.Context, task string, a *llama.Adapter, steps int) error {
		k, ok := byName[task]
		if !ok {
			return nil // the held-out task has no curve
		}
		acc, err := l.EngineAccuracy(ctx, task, tasks[k].Validation, a)
		if err != nil {
			return err
		}
		run.Curves[k] = append(run.Curves[k], metrics.Point{Step: steps, Value: acc})
		return nil
	}
	var counting atomic.Bool
	var generations atomic.Int64
	var stage atomic.Value
	stage.Store("")
	var cached atomic.Int64
	srv := countingServer{Server: opt.NewServer(), on: &counting, n: &generations, cached: &cached, audit: opt.Audit, stage: &stage, base: opt.cache}
	lo := opt.Learner
	lo.Policy, lo.Base, lo.Server, lo.Probe = arm.Policy, opt.Base, srv, probe
	lo.Retention = opt.Retention
	for _, e := range opt.Retention {
		opt.Audit("retention", e.Prompt)
	}
	if !arm.PerTaskPrompt {
		lo.SharedPrompt = SharedPrompt
	}
	if arm.LR > 0 {
		lo.Slow.LR = arm.LR
	}
	if arm.Steps > 0 {
		lo.Slow.Steps, lo.FSTSteps = arm.Steps, arm.Steps
	}
	if arm.Slow != nil {
		arm.Slow(&lo.Slow)
	}
	run.LR, run.Steps = lo.Slow.LR, lo.Slow.Steps
	lo.Name = fmt.Sprintf("lab-%s-s%d-%g-%d-%d", slug(arm.Name), seed, lo.Slow.LR, lo.Slow.Steps, time.Now().UnixNano()%1e6)
	lo.Slow.Chunk, lo.Slow.Seed = opt.Chunk, uint64(seed)
	l, err = fastslow.NewLearner(ctx, dir, lo)
	if err != nil {
		return run, err
	}
	defer func() {
		cleanup(context.WithoutCancel(ctx), l)
		l.Close()
	}()
	learn := func(t Task) (fastslow.Round, error) {
		for _, e := range t.Train {
			opt.Audit("train", e.Prompt)
		}
		for _, e := range t.Validation {
			opt.Audit("validation", e.Prompt)
		}
		stage.Store("learning")
		counting.Store(true)
		defer func() { counting.Store(false); stage.Store("") }()
		r, err := l.Learn(ctx, t.Name, t.Train, t.Validation)
		run.LearnSeconds += r.Duration.Seconds()
		if err == nil && opt.auditing {
			err = auditStore(ctx, l, opt.Audit)
		}
		return r, err
	}
	// evaluate serves ex as a user is served: the shared (or the task's) prompt with the promoted adapter. It
	// stops an answer once its verdict is fixed (see answer): the same verdicts, fewer tokens generated.
	// score answers ex served as prompts[i] with the adapter deployed as handle.
	score := func(ex []fastslow.Example, prompts []string, handle string) (float64, error) {
		stage.Store(evalStage)
		defer stage.Store("")
		right := 0
		for i, e := range ex {
			short := len(opt.Base.Tokenizer.Encode(" "+e.Expected(), false)) + 2
			out, err := answer(ctx, srv, handle, prompts[i], lo.MaxNewTokens, short, e)
			if err != nil {
				return 0, err
			}
			if e.Correct(out) {
				right++
			}
		}
		return float64(right) / float64(max(len(ex), 1)), nil
	}
	var served []string // the prompts evaluate served, in order
	evaluate := func(task string, ex []fastslow.Example) (acc, open float64, err error) {
		stage.Store(evalStage)
		defer stage.Store("")
		right, book := 0, 0
		served = served[:0]
		for _, e := range ex {
			p, err := l.Prompt(ctx, task, e.Prompt)
			if err != nil {
				return 0, 0, err
			}
			served = append(served, p)
			short := len(opt.Base.Tokenizer.Encode(" "+e.Expected(), false)) + 2
			out, err := answer(ctx, srv, l.Slow().Handle(), p, lo.MaxNewTokens, short, e)
			if err != nil {
				return 0, 0, err
			}
			if e.Correct(out) {
				right++
				if e.Answer != "" && strings.Contains(strings.TrimSuffix(p, e.Prompt), e.Answer) {
					book++
				}
			}
		}
		if len(ex) == 0 {
			return 0, 0, nil
		}
		return float64(right) / float64(len(ex)), float64(book) / float64(max(right, 1)), nil
	}
	// What each task was served with just after it was learned: its prompts and the adapter's handle.
	then, final := make([]servedState, T), make([][]string, T)
	for k, t := range tasks {
		r, err := learn(t)
		if err != nil {
			return run, err
		}
		run.WeightSteps = append(run.WeightSteps, r.WeightSteps)
		row := make([]float64, T)
		rightOpen, right := 0.0, 0.0
		for i, u := range tasks {
			acc, open, err := evaluate(u.Name, pick(u))
			if err != nil {
				return run, err
			}
			if i == k {
				then[k] = servedState{prompts: append([]string(nil), served...), handle: l.Slow().Handle()}
			}
			if k == T-1 {
				final[i] = append([]string(nil), served...)
			}
			row[i] = acc
			if k == T-1 {
				n := acc * float64(len(pick(u)))
				right += n
				rightOpen += open * n
			}
		}
		if k == T-1 && right > 0 {
			run.OpenBook = rightOpen / right
		}
		run.Matrix = append(run.Matrix, row)
		opt.Log("%-7s seed %2d: learned %-8s (%2d weight steps)  row %s", arm.Name, seed, t.Name, r.WeightSteps, fmtRow(row))
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
	run.Generations = int(generations.Load())
	run.CachedGenerations = int(cached.Load())
	run.GateGenerations = l.GateGenerations()
	if split != "test" {
		// The sweep scores settings by the validation matrix alone.
		run.Seconds = time.Since(start).Seconds()
		return run, nil
	}
	if c := arm.Policy.Channels(); c.Prompts && c.Weights && !isAblation(arm.Policy) && T > 1 {
		if run.Channels, err = channelDrops(run.Matrix, tasks, pick, then, final, l.Slow().Handle(), score); err != nil {
			if ctx.Err() != nil {
				return run, err
			}
			opt.Log("%s seed %d: no channel split of the forgetting: %v", arm.Name, seed, err)
		}
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
	if h := held; h != nil {
		before, _, err := evaluate(h.Name, h.Test)
		if err != nil {
			return run, err
		}
		if _, err := learn(*h); err != nil {
			return run, err
		}
		after, _, err := evaluate(h.Name, h.Test)
		if err != nil {
			return run, err
		}
		run.Plasticity = after - before
	}
	run.Seconds = time.Since(start).Seconds()
	return run, nil
}
