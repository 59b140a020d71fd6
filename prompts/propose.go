package prompts

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// The deterministic proposers below need no language model, so they help
// even models too small to reflect on their own mistakes: they add worked
// examples, verifier messages as lessons, and facts to look up.

// failures returns the trials that scored below 1, worst first (stable).
func failures(trials []Trial) []Trial {
	var out []Trial
	for _, t := range trials {
		if t.Outcome.Score < 1 {
			out = append(out, t)
		}
	}
	slices.SortStableFunc(out, func(a, b Trial) int {
		switch {
		case a.Outcome.Score < b.Outcome.Score:
			return -1
		case a.Outcome.Score > b.Outcome.Score:
			return 1
		}
		return 0
	})
	return out
}

// DemoSelector adds worked examples for the instances the parent failed:
// the task's stored demo most similar to each failing input (BM25), or,
// when the instance has a known answer, that instance itself as a demo.
// Past Max, the oldest demos are dropped.
type DemoSelector struct {
	// Max is the most demos a candidate keeps (default 4).
	Max int
}

// Name implements Proposer.
func (DemoSelector) Name() string { return "demos" }

// Propose implements Proposer.
func (d DemoSelector) Propose(ctx context.Context, in ProposeInput) (Proposal, error) {
	maxDemos := d.Max
	if maxDemos <= 0 {
		maxDemos = 4
	}
	have := map[uint64]bool{}
	inputs := map[string]bool{}
	for _, dm := range in.Demos {
		have[dm.ID] = true
		inputs[dm.Input] = true
	}
	var p Proposal
	for _, t := range failures(in.Trials) {
		if in.Store != nil {
			hits, err := in.Store.Search(ctx, in.Task, KindDemo, t.Instance.Input, 3)
			if err != nil {
				return Proposal{}, fmt.Errorf("demo selection: %w", err)
			}
			added := false
			for _, h := range hits {
				if have[h.ID] {
					continue
				}
				dm, err := in.Store.Demo(ctx, in.Task, h.ID)
				if err != nil {
					return Proposal{}, fmt.Errorf("demo selection: %w", err)
				}
				if inputs[dm.Input] {
					continue
				}
				have[h.ID], inputs[dm.Input] = true, true
				p.AddDemos = append(p.AddDemos, Demo{ID: h.ID})
				added = true
				break
			}
			if added {
				continue
			}
		}
		if t.Instance.Answer != "" && !inputs[t.Instance.Input] {
			inputs[t.Instance.Input] = true
			p.AddDemos = append(p.AddDemos, Demo{Input: t.Instance.Input, Output: t.Instance.Answer,
				Feedback: []uint64{t.Feedback}})
		}
	}
	if len(p.AddDemos) == 0 {
		p.Reason = "no demo matches the failures"
		return p, nil
	}
	if over := len(in.Demos) + len(p.AddDemos) - maxDemos; over > 0 {
		for _, dm := range in.Demos[:min(over, len(in.Demos))] {
			p.DropDemos = append(p.DropDemos, dm.ID)
		}
		if len(p.AddDemos) > maxDemos {
			p.AddDemos = p.AddDemos[:maxDemos]
		}
	}
	p.Reason = fmt.Sprintf("%d demos for %d failing instances", len(p.AddDemos), len(failures(in.Trials)))
	return p, nil
}

// VerifierLessons turns verifier feedback on failing trials into lessons:
// each distinct message (its first line), most frequent first, unless the
// parent already has it.
type VerifierLessons struct {
	// Max is the most lessons one proposal adds (default 2).
	Max int
	// Prefix is put before each message (default "Avoid this mistake: ").
	Prefix string
}

// Name implements Proposer.
func (VerifierLessons) Name() string { return "verifier" }

// Propose implements Proposer.
func (v VerifierLessons) Propose(_ context.Context, in ProposeInput) (Proposal, error) {
	maxLessons, prefix := v.Max, v.Prefix
	if maxLessons <= 0 {
		maxLessons = 2
	}
	if prefix == "" {
		prefix = "Avoid this mistake: "
	}
	existing := map[string]bool{}
	for _, l := range in.Lessons {
		existing[strings.ToLower(l.Text)] = true
	}
	type msg struct {
		text  string
		count int
		fb    []uint64
	}
	var msgs []*msg
	byText := map[string]*msg{}
	for _, t := range failures(in.Trials) {
		line, _, _ := strings.Cut(strings.TrimSpace(t.Outcome.Feedback), "\n")
		line = strings.TrimSpace(line)
		if len(line) > 240 {
			line = line[:240]
		}
		if line == "" {
			continue
		}
		text := prefix + line
		if existing[strings.ToLower(text)] {
			continue
		}
		m := byText[text]
		if m == nil {
			m = &msg{text: text}
			byText[text] = m
			msgs = append(msgs, m)
		}
		m.count++
		m.fb = append(m.fb, t.Feedback)
	}
	slices.SortStableFunc(msgs, func(a, b *msg) int { return b.count - a.count })
	var p Proposal
	for _, m := range msgs[:min(len(msgs), maxLessons)] {
		p.AddLessons = append(p.AddLessons, Lesson{Text: m.text, Section: "verifier", Feedback: m.fb})
	}
	if len(p.AddLessons) == 0 {
		p.Reason = "no new verifier feedback"
	}
	return p, nil
}

// FactNotes pins, for each failing instance with a known answer, a note
// stating the answer, to be retrieved when a similar question comes: a
// fact to look up instead of a fact to memorize.
type FactNotes struct {
	// Max is the most notes one proposal adds (default 4).
	Max int
	// Format renders a note from input and answer (default
	// "Q: <input> A: <answer>").
	Format func(input, answer string) string
}

// Name implements Proposer.
func (FactNotes) Name() string { return "facts" }

// Propose implements Proposer.
func (f FactNotes) Propose(_ context.Context, in ProposeInput) (Proposal, error) {
	maxNotes, format := f.Max, f.Format
	if maxNotes <= 0 {
		maxNotes = 4
	}
	if format == nil {
		format = func(input, answer string) string { return "Q: " + input + " A: " + answer }
	}
	have := map[string]bool{}
	for _, n := range in.Notes {
		have[n.Text] = true
	}
	var p Proposal
	for _, t := range failures(in.Trials) {
		if t.Instance.Answer == "" || len(p.AddNotes) == maxNotes {
			continue
		}
		text := format(t.Instance.Input, t.Instance.Answer)
		if have[text] {
			continue
		}
		have[text] = true
		p.AddNotes = append(p.AddNotes, Note{Text: text, Feedback: []uint64{t.Feedback}})
	}
	if len(p.AddNotes) == 0 {
		p.Reason = "no failing instance with a known answer"
	}
	return p, nil
}
