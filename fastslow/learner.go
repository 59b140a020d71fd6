package fastslow

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/fastslow/fastslow/prompts"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/train"
)

// Policy decides which channel a task's examples go to.
type Policy string

// The policies.
const (
	// PolicyFST runs a prompt cycle first, then a few weight steps trained with prompts sampled from the
	// candidate population in context, within the forgetting budget (Fast-Slow Training).
	PolicyFST Policy = "fst"
	// PolicyWeights trains the adapter only: the weight-only baseline.
	PolicyWeights Policy = "weights"
	// PolicyPrompts uses the prompt channel only.
	PolicyPrompts Policy = "prompts"
)

// Policies lists every policy.
func Policies() []Policy { return []Policy{PolicyFST, PolicyWeights, PolicyPrompts} }

// ParsePolicy checks a policy name.
func ParsePolicy(s string) (Policy, error) {
	for _, p := range Policies() {
		if string(p) == s {
			return p, nil
		}
	}
	return "", fmt.Errorf("unknown policy %q (want fst, weights or prompts)", s)
}

// Example is one supervised instance: the model should continue Prompt with Completion. Answer, when set, is
// what an output must equal (after trimming spaces) to count as correct; otherwise the completion is.
type Example struct {
	Prompt     string `json:"prompt"`
	Completion string `json:"completion"`
	Answer     string `json:"answer,omitempty"`
	Task       string `json:"task,omitempty"`
}

// Expected is the text a correct output equals, without surrounding space.
func (e Example) Expected() string {
	if e.Answer != "" {
		return strings.TrimSpace(e.Answer)
	}
	return strings.TrimSpace(e.Completion)
}

// Correct reports whether output answers e: its first line, trimmed, is the expected text, alone or followed by
// punctuation. A base model that was never taught to stop goes on after the answer ("Veltmor. She studied..."),
// and the answer is still the answer; "Veltmor City" is not "Veltmor".
func (e Example) Correct(output string) bool {
	first, _, _ := strings.Cut(strings.TrimLeft(output, " \t\r\n"), "\n")
	first = strings.TrimSpace(first)
	want := e.Expected()
	rest, ok := strings.CutPrefix(first, want)
	if !ok || want == "" && first != "" {
		return false
	}
	if rest == "" {
		return true
	}
	r, _ := utf8.DecodeRuneInString(rest)
	return strings.ContainsRune(".,;:!?)", r)
}

// Config configures a Learner.
type Config struct {
	// Policy routes examples (default PolicyFST).
	Policy Policy
	// Name distinguishes this learner's adapter models on the server (default "learner").
	Name string
	// Dir holds the learner's state: the prompt store (Dir/prompts, unless StoreDir says otherwise) and the
	// adapter versions (Dir/adapters).
	Dir string
	// StoreDir, if set, is the prompt store's directory, for a store shared with other tools.
	StoreDir string
	// Base is the model adapted, Server what serves it (an OllamaServer or an EngineServer).
	Base   *weights.Model
	Server Server

	// Slow shapes weight rounds; for PolicyFST the number of steps is FSTSteps.
	Slow SlowOptions
	// FSTSteps is the weight budget of an FST round (default a third of Slow.Steps).
	FSTSteps int
	// Budget is the forgetting budget of FST rounds: the largest drop of retention accuracy allowed (default
	// 0.05). Weight-only rounds are not bounded: they are the baseline.
	Budget float64
	// Retention is what the model must keep knowing besides the tasks it learned (for example facts from its
	// pretraining), asked with their raw prompts. With the earlier tasks' validation examples, served with their
	// prompts, it forms the retention set the forgetting budget is measured on.
	Retention []Example
	// Demos is the most demonstrations a prompt candidate carries (default 3), Notes the facts retrieved into
	// each prompt (default 2), MaxPromptChars the assembled prompt's length limit (default 640).
	Demos, Notes, MaxPromptChars int
	// MaxNewTokens bounds every answer (default 24).
	MaxNewTokens int
	// Events, if set, receives progress.
	Events func(Event)
	// Probe, if set, is called during Learn with the task, the adapter being trained (nil for the base) and
	// the round's weight steps so far: once after the prompt cycle (steps 0) and after every weight chunk. The
	// forgetting lab draws learning curves with it.
	Probe func(ctx context.Context, task string, a *llama.Adapter, steps int) error
}

func (c Config) withDefaults() (Config, error) {
	if c.Policy == "" {
		c.Policy = PolicyFST
	}
	if _, err := ParsePolicy(string(c.Policy)); err != nil {
		return c, err
	}
	if c.Name == "" {
		c.Name = "learner"
	}
	if c.Dir == "" {
		return c, errors.New("learner: no state directory")
	}
	if c.Base == nil || c.Server == nil {
		return c, errors.New("learner: a base model and a server are required")
	}
	c.Slow = c.Slow.withDefaults()
	if c.FSTSteps == 0 {
		c.FSTSteps = max(1, c.Slow.Steps/3)
	}
	if c.Budget == 0 {
		c.Budget = 0.05
	}
	if c.Demos == 0 {
		c.Demos = 3
	}
	if c.Notes == 0 {
		c.Notes = 2
	}
	if c.MaxPromptChars == 0 {
		c.MaxPromptChars = 640
	}
	if c.MaxNewTokens == 0 {
		c.MaxNewTokens = 24
	}
	return c, nil
}

// Event reports progress.
type Event struct {
	Task    string
	Stage   string // "prompts", "weights", "promoted", "kept"
	Step    int
	Total   int
	Loss    float64
	Message string
}

// Round reports one Learn call.
type Round struct {
	Task   string
	Policy Policy
	// Prompt is the fast channel's result (zero for PolicyWeights).
	Prompt PromptRound
	// Weights is the slow channel's result (zero for PolicyPrompts).
	Weights SlowRound
	// WeightSteps is how many optimizer steps the served adapter gained.
	WeightSteps int
	Duration    time.Duration
}

// Learner adapts a model to tasks. It is safe for concurrent use; Learn calls run one at a time.
type Learner struct {
	cfg   Config
	store *prompts.Store
	slow  *SlowChannel
	fast  *FastChannel

	mu        sync.Mutex          // serializes Learn
	retention map[string][]string // task → rendered validation prompts kept for the forgetting budget
	answers   map[string][]Example
	queue     map[string][]Example // corrections from Feedback waiting for a weight round
}

// NewLearner opens (or creates) a learner's state in cfg.Dir.
func NewLearner(ctx context.Context, cfg Config) (*Learner, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("learner: %w", err)
	}
	storeDir := cfg.StoreDir
	if storeDir == "" {
		storeDir = filepath.Join(cfg.Dir, "prompts")
	}
	store, err := prompts.Open(storeDir, &prompts.Options{Small: true})
	if err != nil {
		return nil, fmt.Errorf("learner: %w", err)
	}
	slow, err := OpenSlowChannel(ctx, cfg.Base, filepath.Join(cfg.Dir, "adapters"), cfg.Name, cfg.Server)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("learner: %w", err)
	}
	l := &Learner{cfg: cfg, store: store, slow: slow, retention: map[string][]string{}, answers: map[string][]Example{}, queue: map[string][]Example{}}
	tok := cfg.Base.Tokenizer
	l.fast = &FastChannel{
		Store: store, Demos: cfg.Demos, Notes: cfg.Notes, MaxChars: cfg.MaxPromptChars,
		Tokens:    func(s string) int { return len(tok.Encode(s, true)) },
		MaxTokens: cfg.Base.Config.ContextLength - cfg.MaxNewTokens,
	}
	return l, nil
}

// Close releases the prompt store.
func (l *Learner) Close() error { return l.store.Close() }

// Store is the learner's prompt store.
func (l *Learner) Store() *prompts.Store { return l.store }

// Slow is the learner's slow channel.
func (l *Learner) Slow() *SlowChannel { return l.slow }

// Policy is the learner's policy.
func (l *Learner) Policy() Policy { return l.cfg.Policy }

// Server is what the learner serves through.
func (l *Learner) Server() Server { return l.cfg.Server }

func (l *Learner) emit(e Event) {
	if l.cfg.Events != nil {
		l.cfg.Events(e)
	}
}

// usesPrompts reports whether the policy serves assembled prompts.
func (l *Learner) usesPrompts() bool { return l.cfg.Policy != PolicyWeights }

// Prompt renders what is sent to the model for input on task: the promoted prompt (demos, retrieved notes,
// lessons) before the input, or the input alone under PolicyWeights.
func (l *Learner) Prompt(ctx context.Context, task, input string) (string, error) {
	if !l.usesPrompts() {
		return input, nil
	}
	return l.fast.Render(ctx, task, input)
}

// Answer serves input for task: the promoted prompt with the promoted adapter.
func (l *Learner) Answer(ctx context.Context, task, input string) (string, error) {
	return l.AnswerN(ctx, task, input, l.cfg.MaxNewTokens)
}

// AnswerN is Answer with at most maxTokens new tokens.
func (l *Learner) AnswerN(ctx context.Context, task, input string, maxTokens int) (string, error) {
	p, err := l.Prompt(ctx, task, input)
	if err != nil {
		return "", err
	}
	return l.cfg.Server.Generate(ctx, l.slow.Handle(), p, maxTokens)
}

// Accuracy is the share of examples Answer gets exactly right.
func (l *Learner) Accuracy(ctx context.Context, task string, ex []Example) (float64, error) {
	if len(ex) == 0 {
		return 0, nil
	}
	right := 0
	for _, e := range ex {
		out, err := l.Answer(ctx, task, e.Prompt)
		if err != nil {
			return 0, err
		}
		if e.Correct(out) {
			right++
		}
	}
	return float64(right) / float64(len(ex)), nil
}

// Learn adapts the model to task from its training examples, using val to decide what to promote.
func (l *Learner) Learn(ctx context.Context, task string, trainSet, val []Example) (Round, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	start := time.Now()
	r := Round{Task: task, Policy: l.cfg.Policy}
	if len(trainSet) == 0 {
		return r, fmt.Errorf("learn %s: no training examples", task)
	}
	if len(val) == 0 {
		val = trainSet
	}
	if l.usesPrompts() {
		l.emit(Event{Task: task, Stage: "prompts", Message: "prompt cycle"})
		pr, err := l.fast.Improve(ctx, task, trainSet, val, l.runner())
		if err != nil {
			return r, fmt.Errorf("learn %s: %w", task, err)
		}
		r.Prompt = pr
		l.emit(Event{Task: task, Stage: "promoted", Message: pr.Summary()})
	}
	if l.cfg.Probe != nil {
		if err := l.cfg.Probe(ctx, task, l.slow.Adapter(), 0); err != nil {
			return r, fmt.Errorf("learn %s: %w", task, err)
		}
	}
	if l.cfg.Policy != PolicyPrompts {
		opt := l.cfg.Slow
		var retention Retention
		pairs, err := l.trainingPairs(ctx, task, trainSet)
		if err != nil {
			return r, fmt.Errorf("learn %s: %w", task, err)
		}
		if l.cfg.Policy == PolicyFST {
			opt.Steps = l.cfg.FSTSteps
			opt.Chunk = min(opt.Chunk, opt.Steps)
			opt.Budget = l.cfg.Budget
			retention = l.retentionCheck()
		} else {
			opt.Budget = -1
		}
		if l.cfg.Probe != nil {
			opt.AfterChunk = func(ctx context.Context, a *llama.Adapter, steps int) error {
				return l.cfg.Probe(ctx, task, a, steps)
			}
		}
		progress := func(p train.Progress) {
			l.emit(Event{Task: task, Stage: "weights", Step: p.Step, Total: p.Total, Loss: p.Loss})
		}
		sr, err := l.slow.Train(ctx, task, pairs, retention, opt, progress)
		if err != nil {
			return r, fmt.Errorf("learn %s: %w", task, err)
		}
		r.Weights = sr
		if sr.Promoted {
			r.WeightSteps = sr.Steps
			l.emit(Event{Task: task, Stage: "promoted", Message: fmt.Sprintf("adapter version %d (%d steps)", sr.Version.Seq, sr.Steps)})
		} else {
			l.emit(Event{Task: task, Stage: "kept", Message: sr.Reason})
		}
	}
	if err := l.remember(ctx, task, val); err != nil {
		return r, fmt.Errorf("learn %s: %w", task, err)
	}
	r.Duration = time.Since(start)
	return r, nil
}

// trainingPairs turns examples into what the slow channel trains on. Under PolicyFST each example is shown
// with the served prompt and with a candidate drawn from the task's population, so the weights learn to work
// with prompts rather than to replace them, and stay right for the prompt that is served.
func (l *Learner) trainingPairs(ctx context.Context, task string, ex []Example) ([]weights.Pair, error) {
	if l.cfg.Policy != PolicyFST {
		pairs := make([]weights.Pair, len(ex))
		for i, e := range ex {
			pairs[i] = weights.Pair{Prompt: e.Prompt, Completion: e.Completion}
		}
		return pairs, nil
	}
	pop, err := l.fast.Population(ctx, task)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(l.cfg.Slow.Seed, uint64(len(task))))
	pairs := make([]weights.Pair, 0, 2*len(ex))
	for _, e := range ex {
		served, err := l.fast.Render(ctx, task, e.Prompt)
		if err != nil {
			return nil, err
		}
		pairs = append(pairs, weights.Pair{Prompt: served, Completion: e.Completion})
		if len(pop) == 0 {
			continue
		}
		sampled, err := l.fast.RenderCandidate(ctx, pop[rng.IntN(len(pop))], e.Prompt)
		if err != nil {
			return nil, err
		}
		if sampled != served {
			pairs = append(pairs, weights.Pair{Prompt: sampled, Completion: e.Completion})
		}
	}
	return pairs, nil
}

// remember keeps task's validation examples, rendered as they are served now, for later forgetting checks.
func (l *Learner) remember(ctx context.Context, task string, val []Example) error {
	const keep = 24
	val = val[:min(len(val), keep)]
	rendered := make([]string, len(val))
	for i, e := range val {
		p, err := l.Prompt(ctx, task, e.Prompt)
		if err != nil {
			return err
		}
		rendered[i] = p
	}
	l.retention[task] = rendered
	l.answers[task] = val
	return nil
}

// retentionCheck measures, with the in-process engine, accuracy on the earlier tasks' remembered examples.
func (l *Learner) retentionCheck() Retention {
	return func(ctx context.Context, a *llama.Adapter) (float64, error) {
		m := l.cfg.Base
		right, n := 0, 0
		check := func(p string, e Example) error {
			ids := m.Tokenizer.Encode(p, true)
			budget := min(l.cfg.MaxNewTokens, m.Config.ContextLength-len(ids))
			if budget <= 0 {
				return nil
			}
			out, err := m.Generate(ctx, ids, budget, llama.Sampler{}, []int32{m.Tokenizer.EOS()}, a)
			if err != nil {
				return err
			}
			n++
			if e.Correct(m.Tokenizer.Decode(out)) {
				right++
			}
			return nil
		}
		for task, prompts := range l.retention {
			for i, p := range prompts {
				if err := check(p, l.answers[task][i]); err != nil {
					return 0, err
				}
			}
		}
		for _, e := range l.cfg.Retention {
			if err := check(e.Prompt, e); err != nil {
				return 0, err
			}
		}
		if n == 0 {
			return 1, nil
		}
		return float64(right) / float64(n), nil
	}
}

// runner scores prompts through the server with the current adapter, as they would be served.
func (l *Learner) runner() RunFunc {
	return func(ctx context.Context, prompt string) (string, error) {
		return l.cfg.Server.Generate(ctx, l.slow.Handle(), prompt, l.cfg.MaxNewTokens)
	}
}

// EngineAccuracy is the share of examples the in-process engine answers exactly with adapter a (nil: the base)
// and the task's served prompt: the same answers a server gives, computed without deploying a. The forgetting
// lab uses it inside Probe.
func (l *Learner) EngineAccuracy(ctx context.Context, task string, ex []Example, a *llama.Adapter) (float64, error) {
	if len(ex) == 0 {
		return 0, nil
	}
	m := l.cfg.Base
	right := 0
	for _, e := range ex {
		p, err := l.Prompt(ctx, task, e.Prompt)
		if err != nil {
			return 0, err
		}
		ids := m.Tokenizer.Encode(p, true)
		budget := min(l.cfg.MaxNewTokens, m.Config.ContextLength-len(ids))
		if budget <= 0 {
			continue
		}
		out, err := m.Generate(ctx, ids, budget, llama.Sampler{}, []int32{m.Tokenizer.EOS()}, a)
		if err != nil {
			return 0, err
		}
		if e.Correct(m.Tokenizer.Decode(out)) {
			right++
		}
	}
	return float64(right) / float64(len(ex)), nil
}
