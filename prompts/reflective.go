package prompts

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tmc/langchaingo/llms"
)

// ReflectMode chooses what a Reflective proposer writes.
type ReflectMode int

// Reflection modes.
const (
	// ReflectLessons writes ACE-style deltas: new bullets and edits of
	// existing ones, never a full rewrite. The default.
	ReflectLessons ReflectMode = iota
	// ReflectRewrite rewrites the system text from the failures (GEPA's
	// reflective mutation); lessons are left alone.
	ReflectRewrite
)

// Reflective asks a language model (any langchaingo llms.Model, such as an
// Ollama model) to learn from the parent's failures on the minibatch.
type Reflective struct {
	Model llms.Model
	Mode  ReflectMode
	// MaxTrials caps the trials shown to the model (default 4, failures
	// first).
	MaxTrials int
	// Options are passed to every call (default: temperature 0).
	Options []llms.CallOption
}

// Name implements Proposer.
func (r Reflective) Name() string {
	if r.Mode == ReflectRewrite {
		return "reflective-rewrite"
	}
	return "reflective"
}

// Propose implements Proposer.
func (r Reflective) Propose(ctx context.Context, in ProposeInput) (Proposal, error) {
	if r.Model == nil {
		return Proposal{}, fmt.Errorf("reflective proposer: %w: no model", ErrInvalid)
	}
	trials := failures(in.Trials)
	if len(trials) == 0 {
		return Proposal{Reason: "no failures to learn from"}, nil
	}
	maxTrials := r.MaxTrials
	if maxTrials <= 0 {
		maxTrials = 4
	}
	trials = trials[:min(len(trials), maxTrials)]
	opts := r.Options
	if opts == nil {
		opts = []llms.CallOption{llms.WithTemperature(0)}
	}
	var prompt string
	if r.Mode == ReflectRewrite {
		prompt = rewritePrompt(in, trials)
	} else {
		prompt = lessonsPrompt(in, trials)
	}
	reply, err := llms.GenerateFromSinglePrompt(ctx, r.Model, prompt, opts...)
	if err != nil {
		return Proposal{}, fmt.Errorf("reflective proposer: %w", err)
	}
	if r.Mode == ReflectRewrite {
		text := extractBlock(reply)
		if text == "" {
			return Proposal{Reason: "the model wrote no instructions"}, nil
		}
		if text == strings.TrimSpace(in.Parent.System) {
			return Proposal{Reason: "the model kept the instructions"}, nil
		}
		return Proposal{System: &text, Reason: "rewritten from failures"}, nil
	}
	return parseLessonDelta(reply, in.Lessons), nil
}

func writeTrials(b *strings.Builder, trials []Trial) {
	for i, t := range trials {
		fmt.Fprintf(b, "\n### Example %d\nInput: %s\nAssistant's answer: %s\nScore: %.2f\n", i+1,
			strings.TrimSpace(t.Instance.Input), strings.TrimSpace(t.Outcome.Output), t.Outcome.Score)
		if t.Outcome.Feedback != "" {
			fmt.Fprintf(b, "Feedback: %s\n", strings.TrimSpace(t.Outcome.Feedback))
		}
	}
}

func rewritePrompt(in ProposeInput, trials []Trial) string {
	var b strings.Builder
	b.WriteString("I gave an assistant the following instructions for a task:\n```\n")
	b.WriteString(strings.TrimSpace(in.Parent.System))
	b.WriteString("\n```\n\nHere are inputs it answered, its answers, and feedback on how each answer could be better:\n")
	writeTrials(&b, trials)
	b.WriteString("\nWrite new instructions for the assistant. Keep what works, fix what the feedback points out, " +
		"and include any specific facts or rules the examples reveal. Reply with the new instructions inside ``` blocks.")
	return b.String()
}

func lessonsPrompt(in ProposeInput, trials []Trial) string {
	var b strings.Builder
	fmt.Fprintf(&b, "An assistant works on the task %q with these instructions:\n%s\n\n", in.Task, strings.TrimSpace(in.Parent.System))
	if len(in.Lessons) > 0 {
		b.WriteString("It also follows these lessons (id: text):\n")
		for _, l := range in.Lessons {
			fmt.Fprintf(&b, "[%d] %s\n", l.ID, strings.Join(strings.Fields(l.Text), " "))
		}
		b.WriteString("\n")
	}
	b.WriteString("It got these examples wrong or partly wrong:\n")
	writeTrials(&b, trials)
	b.WriteString("\nWrite short, specific lessons that would fix these mistakes. Add new lessons or edit existing ones; " +
		"do not rewrite everything. Mark existing lessons that helped or misled. Reply with JSON only, in this form:\n" +
		`{"add": ["lesson"], "edit": [{"id": 1, "text": "better lesson"}], "helpful": [1], "harmful": [2]}`)
	return b.String()
}

// extractBlock returns the text inside the first ``` fence (dropping a
// language tag), or the whole reply trimmed when there is none.
func extractBlock(reply string) string {
	start := strings.Index(reply, "```")
	if start < 0 {
		return strings.TrimSpace(reply)
	}
	rest := reply[start+3:]
	end := strings.Index(rest, "```")
	if end < 0 {
		end = len(rest)
	}
	body := rest[:end]
	if nl := strings.IndexByte(body, '\n'); nl >= 0 && !strings.ContainsAny(strings.TrimSpace(body[:nl]), " \t") {
		body = body[nl+1:] // a language tag such as ```text
	}
	return strings.TrimSpace(body)
}

// lessonDelta is the JSON a reflective model answers with.
type lessonDelta struct {
	Add     []string     `json:"add"`
	Edit    []LessonEdit `json:"edit"`
	Helpful []uint64     `json:"helpful"`
	Harmful []uint64     `json:"harmful"`
}

// parseLessonDelta reads the model's delta leniently: the outermost JSON
// object in the reply, or else bullet lines ("- ...") as new lessons.
// Edits and tags naming lessons the parent lacks are dropped.
func parseLessonDelta(reply string, parent []Lesson) Proposal {
	known := map[uint64]bool{}
	for _, l := range parent {
		known[l.ID] = true
	}
	var d lessonDelta
	i, j := strings.IndexByte(reply, '{'), strings.LastIndexByte(reply, '}')
	if i < 0 || j < i || json.Unmarshal([]byte(reply[i:j+1]), &d) != nil {
		d = lessonDelta{}
		for _, line := range strings.Split(reply, "\n") {
			line = strings.TrimSpace(line)
			if text, ok := strings.CutPrefix(line, "- "); ok {
				d.Add = append(d.Add, text)
			}
		}
	}
	var p Proposal
	for _, a := range d.Add {
		if a = strings.TrimSpace(a); a != "" {
			p.AddLessons = append(p.AddLessons, Lesson{Text: a, Section: "reflection"})
		}
	}
	for _, e := range d.Edit {
		if known[e.ID] && strings.TrimSpace(e.Text) != "" {
			p.EditLessons = append(p.EditLessons, e)
		}
	}
	for _, id := range d.Helpful {
		if known[id] {
			p.Helpful = append(p.Helpful, id)
		}
	}
	for _, id := range d.Harmful {
		if known[id] {
			p.Harmful = append(p.Harmful, id)
		}
	}
	if p.Empty() {
		p.Reason = "the model proposed no lesson"
	}
	return p
}
