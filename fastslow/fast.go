package fastslow

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"

	"github.com/fastslow/fastslow/prompts"
)

// RunFunc generates the model's answer to a fully assembled prompt.
type RunFunc func(ctx context.Context, prompt string) (string, error)

// FastChannel keeps task knowledge in the prompt store and assembles the prompts that are served: retrieved
// notes (facts to look up), the promoted candidate's demos and lessons, then the input.
type FastChannel struct {
	Store *prompts.Store
	// Demos is the most demos a candidate carries, Notes how many notes are retrieved per prompt, MaxChars the
	// limit of an assembled prompt in characters.
	Demos, Notes, MaxChars int
	// Tokens, if set, counts a prompt's tokens, and MaxTokens limits the assembled prompt to that many, so it
	// fits the model's context with room for the answer.
	Tokens    func(string) int
	MaxTokens int
}

// PromptRound reports one prompt cycle.
type PromptRound struct {
	Candidates int                // candidates scored this round
	Best       prompts.Candidate  // the best of them
	Score      float64            // its mean validation score
	Baseline   float64            // the served version's score on the same instances before the round
	Promoted   bool               // whether Best became the served version
	Version    prompts.Version    // the served version after the round
	Scores     map[uint64]float64 // every candidate's mean score
}

// Summary is one line for progress output.
func (r PromptRound) Summary() string {
	verb := "kept the served prompt"
	if r.Promoted {
		verb = fmt.Sprintf("promoted candidate %d", r.Best.ID)
	}
	return fmt.Sprintf("%s: validation %.2f (was %.2f), %d candidates scored", verb, r.Score, r.Baseline, r.Candidates)
}

// Improve runs a prompt cycle for task: the training examples become notes (facts retrievable by the input) and
// demos; candidates carrying 0 to Demos demos, chosen to cover the training set, are scored on the validation
// examples through run, and the best is promoted through the store's gate (never below the served version).
func (f *FastChannel) Improve(ctx context.Context, task string, trainSet, val []Example, run RunFunc) (PromptRound, error) {
	var r PromptRound
	if _, err := f.Store.EnsureTask(ctx, task, ""); err != nil {
		return r, err
	}
	demos, err := f.addKnowledge(ctx, task, trainSet)
	if err != nil {
		return r, err
	}
	cands, err := f.proposals(ctx, task, demos)
	if err != nil {
		return r, err
	}
	// The served candidate is scored again on this round's validation set: the gate compares on it.
	served := uint64(0)
	if cur, err := f.Store.Current(ctx, task); err == nil {
		c, err := f.Store.Candidate(ctx, task, cur.Candidate)
		if err != nil {
			return r, err
		}
		served = c.ID
		cands = append([]prompts.Candidate{c}, cands...)
	} else if !errors.Is(err, prompts.ErrNoVersion) {
		return r, err
	}
	r.Scores = map[uint64]float64{}
	ids := make([]string, len(val))
	for i, e := range val {
		ids[i] = instanceID(e.Prompt)
	}
	bestMean := -1.0
	for _, c := range cands {
		scores := make(map[string]float64, len(val))
		sum := 0.0
		for i, e := range val {
			p, err := f.RenderCandidate(ctx, c, e.Prompt)
			if err != nil {
				return r, err
			}
			out, err := run(ctx, p)
			if err != nil {
				return r, err
			}
			if e.Correct(out) {
				scores[ids[i]] = 1
				sum++
			} else {
				scores[ids[i]] = 0
			}
		}
		if c, err = f.Store.SetScores(ctx, task, c.ID, scores); err != nil {
			return r, err
		}
		mean := sum / float64(len(val))
		r.Scores[c.ID] = mean
		r.Candidates++
		if c.ID == served {
			r.Baseline = mean
		}
		// Ties go to the earlier candidate: the served one, then fewer demos.
		if mean > bestMean {
			bestMean, r.Best = mean, c
		}
	}
	r.Score = bestMean
	v, err := f.Store.Promote(ctx, task, r.Best.ID, prompts.PromoteOptions{Source: "fastslow prompt cycle", Reason: fmt.Sprintf("best of %d candidates", r.Candidates)})
	switch {
	case err == nil:
		r.Promoted = v.Candidate == r.Best.ID && v.Action == prompts.ActionPromote
		r.Version = v
	case errors.Is(err, prompts.ErrGateRejected), errors.Is(err, prompts.ErrNotEvaluated):
		r.Version, _ = f.Store.Current(ctx, task)
	default:
		return r, err
	}
	return r, nil
}

// addKnowledge stores each training example once as a note and a demo and returns the task's demos.
func (f *FastChannel) addKnowledge(ctx context.Context, task string, ex []Example) ([]prompts.Demo, error) {
	have := map[string]bool{}
	if err := f.Store.EachNote(ctx, task, func(n prompts.Note) error { have[n.Text] = true; return nil }); err != nil {
		return nil, err
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
	if len(notes) > 0 {
		if _, err := f.Store.AddNotes(ctx, task, notes); err != nil {
			return nil, err
		}
		if _, err := f.Store.AddDemos(ctx, task, demos); err != nil {
			return nil, err
		}
	}
	return f.Store.Demos(ctx, task)
}

// proposals are the round's new candidates: no demos, then 1..Demos demos spread evenly over the task's demos.
func (f *FastChannel) proposals(ctx context.Context, task string, demos []prompts.Demo) ([]prompts.Candidate, error) {
	var out []prompts.Candidate
	for k := 0; k <= min(f.Demos, len(demos)); k++ {
		c := prompts.Candidate{Task: task, Proposer: "seed"}
		if k > 0 {
			c.Proposer = "demos"
			for j := 0; j < k; j++ {
				c.Demos = append(c.Demos, demos[(j*len(demos))/k].ID)
			}
		}
		c, err := f.Store.AddCandidate(ctx, c)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Population is the task's scored candidates, best first: what FST samples prompts from.
func (f *FastChannel) Population(ctx context.Context, task string) ([]prompts.Candidate, error) {
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

// Render assembles the served prompt of task for input: the promoted candidate, or the input with retrieved
// notes when nothing is promoted yet.
func (f *FastChannel) Render(ctx context.Context, task, input string) (string, error) {
	v, err := f.Store.Current(ctx, task)
	if errors.Is(err, prompts.ErrUnknownTask) {
		return input, nil
	}
	if errors.Is(err, prompts.ErrNoVersion) {
		return f.RenderCandidate(ctx, prompts.Candidate{Task: task}, input)
	}
	if err != nil {
		return "", err
	}
	c, err := f.Store.Candidate(ctx, task, v.Candidate)
	if err != nil {
		return "", err
	}
	return f.RenderCandidate(ctx, c, input)
}

// RenderCandidate assembles a prompt from candidate c for input, deterministically: system text, lessons,
// the notes retrieved for the input, the candidate's demos, then the input. Demos, then notes, are dropped from
// the end until the prompt fits MaxChars and MaxTokens; the input itself is never cut.
func (f *FastChannel) RenderCandidate(ctx context.Context, c prompts.Candidate, input string) (string, error) {
	var head []string
	if c.System != "" {
		head = append(head, c.System)
	}
	for _, id := range c.Lessons {
		l, err := f.Store.Lesson(ctx, c.Task, id)
		if err != nil {
			return "", err
		}
		head = append(head, "- "+l.Text)
	}
	var notes []string
	if f.Notes > 0 {
		hits, err := f.Store.Search(ctx, c.Task, prompts.KindNote, input, f.Notes)
		if err != nil {
			return "", err
		}
		for _, h := range hits {
			n, err := f.Store.Note(ctx, c.Task, h.ID)
			if err != nil {
				return "", err
			}
			notes = append(notes, n.Text)
		}
	}
	var demos []string
	for _, id := range c.Demos {
		d, err := f.Store.Demo(ctx, c.Task, id)
		if err != nil {
			return "", err
		}
		demos = append(demos, d.Input+d.Output)
	}
	render := func() string {
		var parts []string
		parts = append(parts, head...)
		if len(notes) > 0 {
			parts = append(parts, strings.Join(notes, "\n"))
		}
		parts = append(parts, demos...)
		parts = append(parts, input)
		return strings.Join(parts, "\n\n")
	}
	p := render()
	tooLong := func(p string) bool {
		return f.MaxChars > 0 && len(p) > f.MaxChars || f.Tokens != nil && f.MaxTokens > 0 && f.Tokens(p) > f.MaxTokens
	}
	for tooLong(p) && (len(demos) > 0 || len(notes) > 0) {
		if len(demos) > 0 {
			demos = demos[:len(demos)-1]
		} else {
			notes = notes[:len(notes)-1]
		}
		p = render()
	}
	return p, nil
}

// instanceID names a validation instance by its content, so scores from different rounds on the same
// instance agree.
func instanceID(prompt string) string {
	h := fnv.New64a()
	h.Write([]byte(prompt))
	return strconv.FormatUint(h.Sum64(), 36)
}
