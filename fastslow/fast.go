package fastslow

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/tmc/langchaingo/llms"

	"github.com/fastslow/fastslow/prompts"
)

// RunFunc generates the model's answer to a fully assembled prompt.
type RunFunc func(ctx context.Context, prompt string) (string, error)

// FastChannel keeps task knowledge in the prompt store, improves the served prompt with the store's GEPA-style
// optimizer (prompts.Optimizer) and assembles the prompts that are served.
//
// The store decides what goes into a prompt (which lessons, notes and demos, ranked by relevance to the input)
// and writes it once, within the budget (MaxChars, MaxTokens: the whole prompt, input included), in the plain
// format the embedded base model was pretrained on (prompts.FormatPlain): documents of the form
// "<fact sentences>\n<question or cloze prompt>" continued by " answer". The store's sectioned format
// ("Notes:\n- ...\n\nInput: ...\nOutput:") is right for instruction-tuned models but would hide the facts from
// a small base model behind headings it never saw. A prompt reads:
//
//	<system text>
//
//	- <lesson>
//	- <lesson>
//
//	<demo input><demo output>
//
//	<note>
//	<note>
//	<input>
//
// Blocks are separated by a blank line; the retrieved notes come last, directly before the input, as the fact
// sentences precede the question in pretraining.
type FastChannel struct {
	Store *prompts.Store
	// Demos is the most demos a candidate carries (0: none), Notes how many notes are retrieved per prompt
	// (0: none), MaxChars the limit of an assembled prompt in characters (0: none).
	Demos, Notes, MaxChars int
	// Tokens, if set, counts a prompt's tokens, and MaxTokens limits the assembled prompt to that many, so it
	// fits the model's context with room for the answer.
	Tokens    func(string) int
	MaxTokens int

	// Rollouts is the most prompts one Improve round runs through its RunFunc (default
	// DefaultRollouts(len(val), len(train))). A round always scores the served prompt and the bare input on
	// every validation example, so it runs at least 2·len(val) prompts even when Rollouts is smaller.
	Rollouts int
	// Minibatch is the number of training examples the optimizer tries a candidate on before scoring it on
	// the validation set (default 3).
	Minibatch int
	// Seed makes the optimizer's choices of parents and minibatches reproducible.
	Seed uint64
	// Shared, if set, is the one prompt every task is improved and served under (Options.SharedPrompt): the
	// notes, demos and lessons of all tasks live in one place and retrieval decides what goes into a prompt,
	// so serving needs no task identity.
	Shared string
	// Reflector, if set, is a language model that reflects on failures and writes lessons (the optimizer's
	// Reflective proposer), in addition to the deterministic proposers.
	Reflector llms.Model
	// OnEvent, if set, receives the optimizer's progress.
	OnEvent func(prompts.Event)
}

// DefaultRollouts is the rollout budget of a round with val validation and train training examples when
// FastChannel.Rollouts is zero: the served prompt's scoring (val), room for three candidates scored on the
// validation set (3·val) and two tries per training example, for at most 4·val of them. Small on purpose: the
// forgetting lab runs many rounds on two cores, and with 12 validation examples a round of the embedded
// default model's size (about a million parameters) on the in-process engine takes a few seconds.
func DefaultRollouts(val, train int) int { return 4*val + 2*min(train, 4*val) }

// PromptRound reports one prompt cycle.
type PromptRound struct {
	Candidates int                // candidates scored this round, on a minibatch or the validation set
	Best       prompts.Candidate  // the best of those scored on the whole validation set
	Score      float64            // its mean validation score
	Baseline   float64            // the served prompt's score on the same instances before the round
	Promoted   bool               // whether Best became the served version in this round
	Version    prompts.Version    // the served version after the round
	Scores     map[uint64]float64 // the mean score of every candidate scored on the whole validation set
	Rollouts   int                // prompts run through the RunFunc
	Run        uint64             // the optimizer run in the store
}

// Summary is one line for progress output.
func (r PromptRound) Summary() string {
	verb := "kept the served prompt"
	if r.Promoted {
		verb = fmt.Sprintf("promoted candidate %d", r.Best.ID)
	}
	return fmt.Sprintf("%s: validation %.2f (was %.2f), %d candidates scored", verb, r.Score, r.Baseline, r.Candidates)
}

// Improve runs a prompt cycle for task. The training examples become notes (facts retrievable by the input)
// and demos, once each; then an optimizer run searches candidates for at most Rollouts runs of run: it tries
// children of the best candidates (with demos for failed examples, pinned facts, lessons from the expected
// answers, and the Reflector's lessons if set) on minibatches of the training examples, scores those that win
// on the validation examples, and promotes a candidate through the store's gate only if it beats the served
// prompt there. An output is right when, trimmed, it equals the example's expected answer (Example.Correct).
func (f *FastChannel) Improve(ctx context.Context, task string, trainSet, val []Example, run RunFunc) (PromptRound, error) {
	task = f.prompt(task)
	var r PromptRound
	if run == nil {
		return r, errors.New("prompt cycle: no run function")
	}
	if len(val) == 0 {
		val = trainSet
	}
	valInst, trainInst := instances(val), instances(trainSet)
	if len(valInst) == 0 {
		return r, errors.New("prompt cycle: no validation examples")
	}
	if _, err := f.Store.EnsureTask(ctx, task, ""); err != nil {
		return r, fmt.Errorf("prompt cycle: %w", err)
	}
	if err := f.addKnowledge(ctx, task, trainSet); err != nil {
		return r, fmt.Errorf("prompt cycle: %w", err)
	}
	mb := f.Minibatch
	if mb <= 0 {
		mb = 3
	}
	total := f.Rollouts
	if total <= 0 {
		total = DefaultRollouts(len(valInst), len(trainInst))
	}
	// The optimizer checks its budget between iterations, and one iteration runs a parent and a child on a
	// minibatch and the child on the validation set: stop early enough that the last one stays within total.
	// The bare input is scored on the validation set after the run (tryBare): keep room for it too.
	budget := max(1, total-(2*mb+len(valInst))+1-len(valInst))
	opts := f.renderOptions()
	runner := &runAdapter{f: f, task: task, run: run, seen: map[uint64]bool{}}
	opt := &prompts.Optimizer{Store: f.Store, Runner: runner, Proposers: f.proposers(), Render: opts, OnEvent: f.OnEvent}
	st, err := opt.Start(ctx, prompts.RunConfig{Task: task, Train: trainInst, Val: valInst, Budget: budget,
		Minibatch: mb, Seed: f.Seed, Render: opts})
	r.Rollouts, r.Candidates, r.Run = runner.calls, len(runner.seen), st.ID
	if err != nil {
		return r, fmt.Errorf("prompt cycle: %w", err)
	}
	if r, err = f.report(ctx, r, st, valInst); err != nil {
		return r, err
	}
	return f.tryBare(ctx, task, r, valInst, run)
}

// BareProposer marks the candidate that serves the input alone, with no system text, notes, demos or lessons.
// Retrieved notes can mislead a small model (it copies a fact about someone else), so a prompt cycle also
// scores the bare input and serves it when it beats every prompt on the validation set.
const BareProposer = "bare"

// tryBare scores the bare input on val and promotes it through the gate when it beats the served prompt.
func (f *FastChannel) tryBare(ctx context.Context, task string, r PromptRound, val []prompts.Instance, run RunFunc) (PromptRound, error) {
	served := r.Baseline
	if v, err := f.Store.Current(ctx, task); err == nil {
		c, err := f.Store.Candidate(ctx, task, v.Candidate)
		if err != nil {
			return r, fmt.Errorf("prompt cycle: %w", err)
		}
		if c.Proposer == BareProposer {
			return r, nil // already served; its scores are from this round's run
		}
		if m, ok := r.Scores[v.Candidate]; ok {
			served = m
		}
	} else if !errors.Is(err, prompts.ErrNoVersion) {
		return r, fmt.Errorf("prompt cycle: %w", err)
	}
	scores := make(map[string]float64, len(val))
	total := 0.0
	for _, in := range val {
		out, err := run(ctx, in.Input)
		if err != nil {
			return r, fmt.Errorf("prompt cycle: %w", err)
		}
		r.Rollouts++
		if (Example{Answer: in.Answer}).Correct(out) {
			scores[in.ID] = 1
			total++
		} else {
			scores[in.ID] = 0
		}
	}
	mean := total / float64(len(val))
	if mean <= served {
		return r, nil
	}
	c, err := f.Store.AddCandidate(ctx, prompts.Candidate{Task: task, Proposer: BareProposer})
	if err != nil {
		return r, fmt.Errorf("prompt cycle: %w", err)
	}
	if c, err = f.Store.SetScores(ctx, task, c.ID, scores); err != nil {
		return r, fmt.Errorf("prompt cycle: %w", err)
	}
	v, err := f.Store.Promote(ctx, task, c.ID, prompts.PromoteOptions{
		Source: "fastslow prompt cycle", Reason: fmt.Sprintf("the bare input scores %.3f, the best prompt %.3f", mean, served),
	})
	if err != nil {
		if errors.Is(err, prompts.ErrGateRejected) || errors.Is(err, prompts.ErrNotEvaluated) {
			return r, nil
		}
		return r, fmt.Errorf("prompt cycle: %w", err)
	}
	r.Candidates++
	r.Scores[c.ID] = mean
	r.Best, r.Score, r.Promoted, r.Version = c, mean, true, v
	return r, nil
}

// report fills a round's result from its finished optimizer run.
func (f *FastChannel) report(ctx context.Context, r PromptRound, st prompts.RunState, val []prompts.Instance) (PromptRound, error) {
	ids := make([]string, len(val))
	for i, in := range val {
		ids[i] = in.ID
	}
	r.Scores = map[uint64]float64{}
	scored := slices.Clone(st.Pool)
	if st.Base != 0 && !slices.Contains(scored, st.Base) {
		scored = append(scored, st.Base)
	}
	for _, id := range scored {
		c, err := f.Store.Candidate(ctx, st.Task, id)
		if err != nil {
			return r, fmt.Errorf("prompt cycle: %w", err)
		}
		m, ok := c.Mean(ids)
		if !ok {
			continue
		}
		r.Scores[id] = m
		if id == st.Best {
			r.Best, r.Score = c, m
		}
	}
	// What was served before is the base candidate or, before any promotion, the seed: the bare input with its
	// retrieved notes, which is exactly what Render serves for a task without a version.
	before := st.Base
	if before == 0 && len(st.Pool) > 0 {
		before = st.Pool[0]
	}
	r.Baseline = r.Scores[before]
	v, err := f.Store.Current(ctx, st.Task)
	if err != nil && !errors.Is(err, prompts.ErrNoVersion) {
		return r, fmt.Errorf("prompt cycle: %w", err)
	}
	r.Version = v
	r.Promoted = len(st.Promoted) > 0 && v.Candidate == r.Best.ID && r.Best.ID != 0
	return r, nil
}

// proposers are the optimizer's proposers: demos for failed examples (when candidates carry demos), the
// expected answers as lessons, facts pinned as notes, and the Reflector's lessons.
func (f *FastChannel) proposers() []prompts.Proposer {
	var ps []prompts.Proposer
	if f.Demos > 0 {
		ps = append(ps, prompts.DemoSelector{Max: f.Demos})
	}
	ps = append(ps, prompts.VerifierLessons{}, prompts.FactNotes{Format: noteText})
	if f.Reflector != nil {
		ps = append(ps, prompts.Reflective{Model: f.Reflector})
	}
	return ps
}

// noteText is the note stating input's answer: the input continued by the answer, as the training examples'
// notes are written.
func noteText(input, answer string) string {
	return strings.TrimSpace(input + " " + strings.TrimSpace(answer))
}

// runAdapter runs the optimizer's rendered prompts through a RunFunc, in the plain format, and scores them by
// exact match.
type runAdapter struct {
	f    *FastChannel
	task string
	run  RunFunc

	mu    sync.Mutex
	calls int
	seen  map[uint64]bool // candidates run
}

// Run implements prompts.Runner.
func (a *runAdapter) Run(ctx context.Context, r prompts.Rendered, in prompts.Instance) (prompts.Outcome, error) {
	p, err := a.f.served(ctx, a.task, r, in.Input)
	if err != nil {
		return prompts.Outcome{}, err
	}
	out, err := a.run(ctx, p)
	a.mu.Lock()
	a.calls++
	a.seen[r.Candidate] = true
	a.mu.Unlock()
	if err != nil {
		return prompts.Outcome{}, err
	}
	o := prompts.Outcome{Output: out}
	if (Example{Answer: in.Answer}).Correct(out) {
		o.Score = 1
	} else {
		o.Feedback = "expected: " + in.Answer
	}
	return o, nil
}

// instances turns examples into the optimizer's instances, keyed by content (so scores from different rounds
// on the same example agree) and without repeats.
func instances(ex []Example) []prompts.Instance {
	seen := map[string]bool{}
	var out []prompts.Instance
	for _, e := range ex {
		id := instanceID(e.Prompt, e.Expected())
		if seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, prompts.Instance{ID: id, Input: e.Prompt, Answer: e.Expected()})
	}
	return out
}

// addKnowledge stores each training example once as a note and a demo.
func (f *FastChannel) addKnowledge(ctx context.Context, task string, ex []Example) error {
	have := map[string]bool{}
	if err := f.Store.EachNote(ctx, task, func(n prompts.Note) error { have[n.Text] = true; return nil }); err != nil {
		return err
	}
	var notes []prompts.Note
	var demos []prompts.Demo
	for _, e := range ex {
		text := strings.TrimSpace(e.Prompt + e.Completion)
		if have[text] {
			continue
		}
		have[text] = true
		notes = append(notes, prompts.Note{Task: task, Text: text, Source: "example"})
		demos = append(demos, prompts.Demo{Task: task, Input: e.Prompt, Output: e.Completion, Source: "example"})
	}
	if len(notes) == 0 {
		return nil
	}
	if _, err := f.Store.AddNotes(ctx, task, notes); err != nil {
		return err
	}
	_, err := f.Store.AddDemos(ctx, task, demos)
	return err
}

// prompt is the prompt task is improved and served under: its own, or the shared one.
func (f *FastChannel) prompt(task string) string {
	if f.Shared != "" {
		return f.Shared
	}
	return task
}

// Population is the task's scored candidates, best first: what FST samples prompts from.
func (f *FastChannel) Population(ctx context.Context, task string) ([]prompts.Candidate, error) {
	task = f.prompt(task)
	all, err := f.Store.Candidates(ctx, task)
	if err != nil {
		return nil, err
	}
	var scored []prompts.Candidate
	for _, c := range all {
		if _, ok := c.Mean(nil); ok {
			scored = append(scored, c)
		}
	}
	sort.SliceStable(scored, func(i, j int) bool {
		a, _ := scored[i].Mean(nil)
		b, _ := scored[j].Mean(nil)
		return a > b
	})
	return scored, nil
}

// Render assembles the served prompt of task for input: the promoted candidate or, when nothing is promoted
// yet, the input after the notes retrieved for it.
func (f *FastChannel) Render(ctx context.Context, task, input string) (string, error) {
	task = f.prompt(task)
	if _, err := f.Store.Task(ctx, task); errors.Is(err, prompts.ErrUnknownTask) {
		return input, nil
	} else if err != nil {
		return "", fmt.Errorf("render %s: %w", task, err)
	}
	r, err := f.Store.Render(ctx, task, input, f.renderOptions())
	switch {
	case errors.Is(err, prompts.ErrNoVersion):
		return f.RenderCandidate(ctx, prompts.Candidate{Task: task}, input)
	case err != nil:
		return "", err
	}
	return f.served(ctx, task, r, input)
}

// RenderCandidate assembles a prompt from candidate c for input, deterministically: the store ranks c's lessons
// and demos and the task's notes (and those c pins) by relevance to input and writes the prompt in the plain
// format (see FastChannel), keeping what fits the budget (prompts.FormatPlain). A candidate that is not stored
// (ID 0) gets its system text, lessons and demos in their order, and the notes retrieved for input. The input
// itself is never cut.
func (f *FastChannel) RenderCandidate(ctx context.Context, c prompts.Candidate, input string) (string, error) {
	if c.ID == 0 {
		return f.renderUnsaved(ctx, c, input)
	}
	r, err := f.Store.RenderCandidate(ctx, c.Task, c.ID, input, f.renderOptions())
	if err != nil {
		return "", err
	}
	return f.served(ctx, c.Task, r, input)
}

// renderUnsaved renders a candidate that is not in the store.
func (f *FastChannel) renderUnsaved(ctx context.Context, c prompts.Candidate, input string) (string, error) {
	p := prompts.Parts{Task: c.Task, System: c.System, Format: prompts.FormatPlain, Input: input}
	for _, id := range c.Lessons {
		l, err := f.Store.Lesson(ctx, c.Task, id)
		if err != nil {
			return "", err
		}
		p.Lessons = append(p.Lessons, l)
	}
	for _, id := range c.Demos[:min(len(c.Demos), max(f.Demos, 0))] {
		d, err := f.Store.Demo(ctx, c.Task, id)
		if err != nil {
			return "", err
		}
		p.Demos = append(p.Demos, d)
	}
	if f.Notes > 0 && len(prompts.Tokenize(input)) > 0 {
		got, err := f.Store.Retrieve(ctx, c.Task, input, prompts.RetrieveOptions{Notes: f.Notes})
		if err != nil {
			return "", err
		}
		for _, n := range got.Notes {
			p.Notes = append(p.Notes, n.Item)
		}
	}
	r, err := prompts.Assemble(p, f.budget())
	if err != nil {
		return "", err
	}
	return r.Prompt(input), nil
}

// budget limits a whole served prompt, input included, to MaxChars and MaxTokens.
func (f *FastChannel) budget() prompts.Budget {
	b := prompts.Budget{MaxChars: f.MaxChars}
	if f.Tokens != nil && f.MaxTokens > 0 {
		b.Tokens, b.MaxTokens = f.Tokens, f.MaxTokens
	}
	return b
}

// renderOptions are the store's render options: the plain format within the budget. The input is part of what
// the budget limits, so the options are the same for every input.
func (f *FastChannel) renderOptions() prompts.RenderOptions {
	o := prompts.RenderOptions{Notes: -1, Demos: -1, Format: prompts.FormatPlain, Budget: f.budget()}
	if f.Notes > 0 {
		o.Notes = f.Notes
	}
	if f.Demos > 0 {
		o.Demos = f.Demos
	}
	return o
}

// served is the prompt r serves for input: r's plain text, or the input alone for the bare candidate.
func (f *FastChannel) served(ctx context.Context, task string, r prompts.Rendered, input string) (string, error) {
	if r.Candidate != 0 {
		c, err := f.Store.Candidate(ctx, task, r.Candidate)
		if err != nil {
			return "", err
		}
		if c.Proposer == BareProposer {
			return input, nil
		}
	}
	return r.Prompt(input), nil
}

// instanceID names an example by its content.
func instanceID(prompt, answer string) string {
	h := fnv.New64a()
	h.Write([]byte(prompt))
	h.Write([]byte{0})
	h.Write([]byte(answer))
	return strconv.FormatUint(h.Sum64(), 36)
}
