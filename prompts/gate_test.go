package prompts

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// penaltyRunner is copyRunner, except that a prompt containing "WRONG"
// makes it fail: a deterministic model that bad advice misleads.
type penaltyRunner struct{ copyRunner }

func (r *penaltyRunner) Run(ctx context.Context, p Rendered, in Instance) (Outcome, error) {
	out, err := r.copyRunner.Run(ctx, p, in)
	if err == nil && strings.Contains(p.Text(), "WRONG") {
		out = Outcome{Output: "misled", Score: 0}
	}
	return out, err
}

func TestGatePromoteLessons(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "")
	mustTask(t, s, "cap")
	_, val := capitalSets()
	val = val[:2]
	seed, err := s.AddCandidate(ctx, Candidate{Task: "cap", System: "Answer."})
	if err != nil {
		t.Fatal(err)
	}
	g := &Gate{Store: s, Runner: &penaltyRunner{}}
	if _, err := g.PromoteCandidate(ctx, "cap", seed.ID, val, PromoteOptions{}); err != nil {
		t.Fatalf("first version: %v", err)
	}
	good, _ := s.AddLesson(ctx, Lesson{Task: "cap", Text: "Kenya: Nairobi."})
	v, err := g.PromoteLessons(ctx, "cap", []uint64{good.ID}, val, PromoteOptions{Reason: "helps"})
	if err != nil {
		t.Fatalf("helpful lesson: %v", err)
	}
	if v.Evidence.Score != 0.5 || v.Evidence.Baseline != 0 || v.Evidence.Instances != 2 || v.Evidence.Source != "gate" {
		t.Fatalf("evidence %+v", v.Evidence)
	}
	neutral, _ := s.AddLesson(ctx, Lesson{Task: "cap", Text: "Be polite."})
	if _, err := g.PromoteLessons(ctx, "cap", []uint64{neutral.ID}, val, PromoteOptions{}); err != nil {
		t.Fatalf("a lesson that does not lower the score: %v", err)
	}
	before, _ := s.Current(ctx, "cap")
	bad, _ := s.AddLesson(ctx, Lesson{Task: "cap", Text: "WRONG: capitals are always the largest city."})
	if _, err := g.PromoteLessons(ctx, "cap", []uint64{bad.ID}, val, PromoteOptions{}); !errors.Is(err, ErrGateRejected) {
		t.Fatalf("harmful lesson = %v, want ErrGateRejected", err)
	}
	after, _ := s.Current(ctx, "cap")
	if after.Seq != before.Seq {
		t.Fatalf("a rejected lesson changed the served version: %+v", after)
	}
	// Scores already known are not recomputed.
	calls := len(g.Runner.(*penaltyRunner).calls)
	if _, err := g.Evaluate(ctx, "cap", after.Candidate, val); err != nil || len(g.Runner.(*penaltyRunner).calls) != calls {
		t.Fatalf("re-evaluation ran the model again (%v)", err)
	}
}
