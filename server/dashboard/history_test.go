package dashboard_test

import (
	"context"
	"testing"

	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/internal/learnertest"
	"github.com/fastslow/fastslow/prompts"
)

// facts are questions in the embedded model's own format, with their answers.
var facts = learnertest.Facts

// hostile is text a page must show as text, never as markup.
const hostile = `<script>alert("x")</script><b>bold</b>`

// history opens a learner on the embedded model (in-process engine) in dir and gives task "people" a real
// history through the library: two learning rounds (a promoted prompt version, two adapter versions, the
// the forgetting budget at 1 so that a retention drop is kept and shown), a second prompt version promoted
// through the store's gate, and two corrections waiting for a weight round.
func history(t testing.TB, dir string) *fastslow.Learner {
	t.Helper()
	ctx := context.Background()
	l, err := fastslow.Open(ctx, dir, fastslow.WithOptions(func(o *fastslow.Options) {
		o.Slow.Steps, o.FSTSteps, o.Slow.Seed, o.Budget = 10, 10, 1, 1
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var ex []fastslow.Example
	for _, f := range facts {
		ex = append(ex, fastslow.Example{Prompt: f.Question, Completion: " " + f.Answer, Answer: f.Answer})
	}
	for _, part := range [][]fastslow.Example{ex[:2], ex[2:4]} {
		if _, err := l.Learn(ctx, "people", part, part); err != nil {
			t.Fatal(err)
		}
	}
	st := l.Store()
	if _, err := st.CreateTask(ctx, prompts.Task{Name: "hostile", Description: hostile}); err != nil {
		t.Fatal(err)
	}
	cur, err := st.Current(ctx, "people")
	if err != nil {
		t.Fatal(err)
	}
	lesson, err := st.AddLesson(ctx, prompts.Lesson{Task: "people", Text: "Answer with the city alone. " + hostile, Section: "strategies", Source: "user"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.AddCandidate(ctx, prompts.Candidate{Task: "people", System: "You answer questions about people.", Lessons: []uint64{lesson.ID}, Parents: []uint64{cur.Candidate}, Proposer: "user"})
	if err != nil {
		t.Fatal(err)
	}
	served, err := st.Candidate(ctx, "people", cur.Candidate)
	if err != nil {
		t.Fatal(err)
	}
	scores := map[string]float64{}
	for id := range served.Scores {
		scores[id] = 1
	}
	if _, err := st.SetScores(ctx, "people", c.ID, scores); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Promote(ctx, "people", c.ID, prompts.PromoteOptions{Source: "dashboard test"}); err != nil {
		t.Fatal(err)
	}
	for _, f := range facts[4:] {
		if _, err := l.Feedback(ctx, fastslow.Correction{Task: "people", Input: f.Question, Output: " Saldune", Score: 0, Answer: f.Answer, Critique: "wrong city " + hostile}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(l.Slow().Versions()); n != 2 {
		t.Fatalf("history made %d adapter versions, want 2", n)
	}
	return l
}
