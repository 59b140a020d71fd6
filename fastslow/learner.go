package fastslow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/fastslow/fastslow/prompts"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/train"
)

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

// Event reports progress.
type Event struct {
	Task string
	// Stage is "prompts" (a prompt cycle starts), "weights" (a weight step ended), "promoted", "kept" (a weight
	// round kept the served adapter), and for rounds the background loop runs: "round" (starts), "done" (Round
	// is set) and "failed" (Err is set; the corrections stay queued).
	Stage   string
	Step    int
	Total   int
	Loss    float64
	Message string
	Round   *Round
	Err     error
}

// Round reports one Learn call.
type Round struct {
	Task string
	// Policy is the name of the policy that ran the round.
	Policy string
	// Prompt is the fast channel's result (zero for a policy without prompts).
	Prompt PromptRound
	// Weights is the slow channel's result (zero for a policy without weights).
	Weights SlowRound
	// WeightSteps is how many optimizer steps the served adapter gained.
	WeightSteps int
	Duration    time.Duration
}

// Learner adapts a model to tasks. It is safe for concurrent use; Learn calls run one at a time.
type Learner struct {
	cfg   Options
	dir   string
	store *prompts.Store
	slow  *SlowChannel
	fast  *FastChannel

	round     sync.Mutex          // serializes rounds (Learn, Flush); held by the rounds' own state below
	retention map[string][]string // task → rendered validation prompts kept for the forgetting budget
	answers   map[string][]Example
	memory    map[string][]Example // task → training examples kept for replay
	order     []string             // tasks in the order they were first learned
	gateGens  atomic.Int64         // answers the forgetting budget's retention checks generated

	mu      sync.Mutex           // guards queue and retryAt; never held during a round
	queue   map[string][]pending // corrections waiting for a weight round, by task, oldest first
	retryAt map[string]time.Time // a task whose background round failed waits until then

	wake   chan struct{} // wakes the background loop
	cancel context.CancelFunc
	done   chan struct{} // closed when the background loop has ended
}

// NewLearner opens (or creates) a learner's state in dir, with opts (start from DefaultOptions; Base and
// Server are required).
func NewLearner(ctx context.Context, dir string, opts Options) (*Learner, error) {
	if dir == "" {
		return nil, errors.New("learner: no state directory")
	}
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("learner: %w", err)
	}
	cfg := opts
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("learner: %w", err)
	}
	if cfg.Name == "" {
		name, err := derivedName(dir)
		if err != nil {
			return nil, fmt.Errorf("learner: %w", err)
		}
		cfg.Name = name
	}
	storeDir := cfg.StoreDir
	if storeDir == "" {
		storeDir = filepath.Join(dir, "prompts")
	}
	store, err := prompts.Open(storeDir, &prompts.Options{Small: true})
	if err != nil {
		return nil, fmt.Errorf("learner: %w", err)
	}
	slow, err := OpenSlowChannel(ctx, cfg.Base, filepath.Join(dir, "adapters"), cfg.Name, cfg.Server)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("learner: %w", err)
	}
	if cfg.Deploy == (DeployOptions{}) {
		cfg.Deploy = DefaultDeployOptions()
	}
	if err := slow.SetDeploy(cfg.Deploy); err != nil {
		store.Close()
		return nil, fmt.Errorf("learner: %w", err)
	}
	l := &Learner{cfg: cfg, dir: dir, store: store, slow: slow, retention: map[string][]string{}, answers: map[string][]Example{},
		queue: map[string][]pending{}, memory: map[string][]Example{}, retryAt: map[string]time.Time{}, wake: make(chan struct{}, 1)}
	tok := cfg.Base.Tokenizer
	l.fast = &FastChannel{
		Store: store, Demos: cfg.Demos, Notes: cfg.Notes, MaxChars: cfg.MaxPromptChars, Shared: cfg.SharedPrompt,
		Tokens:    func(s string) int { return len(tok.Encode(s, true)) },
		MaxTokens: cfg.Base.Config.ContextLength - cfg.MaxNewTokens,
	}
	if err := l.start(ctx); err != nil {
		store.Close()
		return nil, fmt.Errorf("learner: %w", err)
	}
	return l, nil
}

// start reads the waiting corrections and starts the background loop.
func (l *Learner) start(ctx context.Context) error {
	if err := l.loadQueue(ctx); err != nil {
		return err
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l.cancel, l.done = cancel, make(chan struct{})
	go l.background(bg)
	l.kick()
	return nil
}

// Close stops the background loop (a round in progress is abandoned: its corrections stay queued in the
// store) and releases the prompt store.
func (l *Learner) Close() error {
	l.cancel()
	<-l.done
	return l.store.Close()
}

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

// Options are the learner's options, with its Name filled in.
func (l *Learner) Options() Options { return l.cfg }

// usesPrompts reports whether the policy serves assembled prompts.
func (l *Learner) usesPrompts() bool { return l.cfg.Policy.Channels().Prompts }

// Prompt renders what is sent to the model for input on task: the promoted prompt (demos, retrieved notes,
// lessons) before the input, or the input alone under a policy without prompts.
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

// AnswerStream is AnswerN passing the answer's text to onText as it is generated, when the server streams
// (a StreamServer such as Ollama's); other servers pass the whole answer at once. It returns the whole answer.
func (l *Learner) AnswerStream(ctx context.Context, task, input string, maxTokens int, onText func(string) error) (string, error) {
	p, err := l.Prompt(ctx, task, input)
	if err != nil {
		return "", err
	}
	if ss, ok := l.cfg.Server.(StreamServer); ok {
		return ss.GenerateStream(ctx, l.slow.Handle(), p, maxTokens, onText)
	}
	out, err := l.cfg.Server.Generate(ctx, l.slow.Handle(), p, maxTokens)
	if err != nil || out == "" {
		return out, err
	}
	return out, onText(out)
}

// Accuracy is the share of examples Answer gets exactly right.
func (l *Learner) Accuracy(ctx context.Context, task string, ex []Example) (float64, error) {
	return shareCorrect(ex, func(e Example) (string, bool, error) {
		out, err := l.Answer(ctx, task, e.Prompt)
		return out, true, err
	})
}

// shareCorrect is the share of ex whose answer is right (Example.Correct), 0 for none. answer gives an
// example's answer; ok false (no room for one) counts as wrong, and an error stops the count.
func shareCorrect(ex []Example, answer func(Example) (out string, ok bool, err error)) (float64, error) {
	if len(ex) == 0 {
		return 0, nil
	}
	right := 0
	for _, e := range ex {
		out, ok, err := answer(e)
		if err != nil {
			return 0, err
		}
		if ok && e.Correct(out) {
			right++
		}
	}
	return float64(right) / float64(len(ex)), nil
}

// Learn adapts the model to task from its training examples, using val to decide what to promote.
func (l *Learner) Learn(ctx context.Context, task string, trainSet, val []Example) (Round, error) {
	l.round.Lock()
	defer l.round.Unlock()
	return l.learn(ctx, task, trainSet, val)
}

// learn is Learn with the round lock held.
func (l *Learner) learn(ctx context.Context, task string, trainSet, val []Example) (Round, error) {
	start := time.Now()
	pol := l.cfg.Policy
	r := Round{Task: task, Policy: pol.Name()}
	if len(trainSet) == 0 {
		return r, fmt.Errorf("learn %s: no training examples", task)
	}
	if len(val) == 0 {
		val = trainSet
	}
	if pol.Channels().Prompts {
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
	if pol.Channels().Weights {
		sr, err := l.weightRound(ctx, task, trainSet)
		if err != nil {
			return r, fmt.Errorf("learn %s: %w", task, err)
		}
		r.Weights = sr
		switch {
		case sr.Promoted:
			r.WeightSteps = sr.Steps
			l.emit(Event{Task: task, Stage: "promoted", Message: fmt.Sprintf("adapter version %d (%d steps)", sr.Version.Seq, sr.Steps)})
		case sr.Reason != "":
			l.emit(Event{Task: task, Stage: "kept", Message: sr.Reason})
		}
	}
	l.keep(task, trainSet)
	if err := l.remember(ctx, task, val); err != nil {
		return r, fmt.Errorf("learn %s: %w", task, err)
	}
	r.Duration = time.Since(start)
	return r, nil
}

// weightRound asks the policy for the round's plan and trains it.
func (l *Learner) weightRound(ctx context.Context, task string, trainSet []Example) (SlowRound, error) {
	plan, err := l.cfg.Policy.Plan(ctx, Chunk{Task: task, Examples: trainSet, Options: l.cfg, Fast: l.fast, Earlier: l.earlier(task)})
	if err != nil {
		return SlowRound{}, err
	}
	if len(plan.Pairs) == 0 || plan.Steps == 0 {
		return SlowRound{Reason: "the policy planned no weight steps"}, nil
	}
	opt := l.cfg.Slow
	opt.Steps, opt.Budget = plan.Steps, plan.Budget
	var retention Retention
	if plan.Budget >= 0 {
		retention = l.retentionCheck()
	}
	if l.cfg.Probe != nil {
		opt.AfterChunk = func(ctx context.Context, a *llama.Adapter, steps int) error {
			return l.cfg.Probe(ctx, task, a, steps)
		}
	}
	progress := func(p train.Progress) {
		l.emit(Event{Task: task, Stage: "weights", Step: p.Step, Total: p.Total, Loss: p.Loss})
	}
	return l.slow.Train(ctx, task, plan.Pairs, retention, opt, progress)
}

// keep stores up to ReplayMemory of task's training examples for policies that replay earlier tasks.
func (l *Learner) keep(task string, ex []Example) {
	if l.cfg.ReplayMemory == 0 {
		return
	}
	if _, ok := l.memory[task]; !ok {
		l.order = append(l.order, task)
	}
	m := append(l.memory[task], ex...)
	l.memory[task] = m[max(0, len(m)-l.cfg.ReplayMemory):]
}

// earlier returns the kept examples of every task but task, oldest task first.
func (l *Learner) earlier(task string) []Example {
	var out []Example
	for _, t := range l.order {
		if t != task {
			out = append(out, l.memory[t]...)
		}
	}
	return out
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
	return func(ctx context.Context, m *weights.Model, a *llama.Adapter) (float64, error) {
		right, n := 0, 0
		check := func(p string, e Example) error {
			l.gateGens.Add(1)
			out, ok, err := engineAnswer(ctx, m, p, l.cfg.MaxNewTokens, a)
			if err != nil || !ok {
				return err
			}
			n++
			if e.Correct(out) {
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
			return 0, fmt.Errorf("%w (none kept from earlier rounds since the learner was opened, and no retention examples configured)", ErrNoRetentionSet)
		}
		return float64(right) / float64(n), nil
	}
}

// GateGenerations is how many answers the forgetting budget's retention checks have generated (in the
// in-process engine) since the learner was opened: the gate's cost, beside the prompt search's generations
// through the server.
func (l *Learner) GateGenerations() int { return int(l.gateGens.Load()) }

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
	return l.EngineAccuracyOn(ctx, task, ex, l.cfg.Base, a)
}

// EngineAccuracyOn is EngineAccuracy on model m (the base, or a merged model as a merged deploy serves it)
// with adapter a (nil: m alone).
func (l *Learner) EngineAccuracyOn(ctx context.Context, task string, ex []Example, m *weights.Model, a *llama.Adapter) (float64, error) {
	return shareCorrect(ex, func(e Example) (string, bool, error) {
		p, err := l.Prompt(ctx, task, e.Prompt)
		if err != nil {
			return "", false, err
		}
		return engineAnswer(ctx, m, p, l.cfg.MaxNewTokens, a)
	})
}

// engineAnswer is the in-process engine's greedy answer to prompt with adapter a (nil: the base), at most
// maxTokens tokens; ok is false when the prompt leaves no room in the context for an answer.
func engineAnswer(ctx context.Context, m *weights.Model, prompt string, maxTokens int, a *llama.Adapter) (string, bool, error) {
	ids := m.Tokenizer.Encode(prompt, true)
	budget := min(maxTokens, m.Config.ContextLength-len(ids))
	if budget <= 0 {
		return "", false, nil
	}
	out, err := m.Generate(ctx, ids, budget, llama.Sampler{}, a)
	if err != nil {
		return "", false, err
	}
	return m.Tokenizer.Decode(out), true, nil
}

// derivedName names a learner's models after its state directory, so that learners with different state never
// deploy over each other's models.
func derivedName(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(abs))
	return hex.EncodeToString(sum[:5]), nil
}
