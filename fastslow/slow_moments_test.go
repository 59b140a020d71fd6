package fastslow

import (
	"context"
	"slices"
	"testing"
)

// TestSlowChannelKeepsOptimizer checks that AdamW's state survives a round boundary: the second round of an
// adapter carries on from the first round's optimizer (its step count goes on from there), a rollback
// restores the optimizer of the version it returns to, a reopened channel finds the current version's
// optimizer on disk with the same moments, and a rollback to the base drops it.
func TestSlowChannelKeepsOptimizer(t *testing.T) {
	ctx := context.Background()
	m, _ := tinyBase(t)
	dir := t.TempDir()
	s := openSlow(t, m, dir, "moments", NewEngineServer(m))
	opt := slowOpts(func(o *SlowOptions) { o.Steps = 4; o.Chunk = 2; o.Budget = -1; o.Seed = 1 })
	step := func(what string, want int) {
		t.Helper()
		if s.moments == nil || s.moments.Step != want {
			t.Fatalf("%s: optimizer state %+v, want step %d", what, s.moments, want)
		}
	}
	for round, want := range []int{4, 8} {
		r, err := s.Train(ctx, "a", capitals[:2], nil, opt, nil)
		if err != nil || !r.Promoted {
			t.Fatalf("round %d: %+v, %v", round+1, r, err)
		}
		step("after a round", want)
	}
	if err := s.Rollback(ctx, 1); err != nil {
		t.Fatal(err)
	}
	step("after a rollback to version 1", 4)
	if r, err := s.Train(ctx, "a", capitals[:2], nil, opt, nil); err != nil || !r.Promoted {
		t.Fatalf("round after rollback: %+v, %v", r, err)
	}
	step("after the round that followed the rollback", 8)
	want := s.moments

	again, err := OpenSlowChannel(ctx, m, dir, "moments", NewEngineServer(m))
	if err != nil {
		t.Fatal(err)
	}
	s = again
	step("reopened", 8)
	for name, mom := range want.M {
		if !slices.Equal(s.moments.M[name], mom) || !slices.Equal(s.moments.V[name], want.V[name]) {
			t.Fatalf("%s: the reopened channel's moments differ from the saved ones", name)
		}
	}
	if err := s.Rollback(ctx, 0); err != nil || s.moments != nil {
		t.Fatalf("rollback to the base: %v; optimizer state %+v", err, s.moments)
	}
}

// TestSlowChannelMemLimit checks that a round refuses, before training, a memory limit no step fits, and
// trains with recomputation.
func TestSlowChannelMemLimit(t *testing.T) {
	ctx := context.Background()
	m, _ := tinyBase(t)
	s, err := OpenSlowChannel(ctx, m, t.TempDir(), "memlimit", NewEngineServer(m))
	if err != nil {
		t.Fatal(err)
	}
	opt := slowOpts(func(o *SlowOptions) { o.Steps = 2; o.Budget = -1; o.MemLimit = 1 << 20 })
	if r, err := s.Train(ctx, "a", capitals[:2], nil, opt, nil); err == nil || r.Tried != 0 {
		t.Fatalf("a 1 MiB limit: round %+v, error %v; want a refusal before any step", r, err)
	}
	opt.MemLimit, opt.Recompute = 0, true
	if r, err := s.Train(ctx, "a", capitals[:2], nil, opt, nil); err != nil || !r.Promoted || r.Steps != 2 {
		t.Fatalf("with recomputation: round %+v, error %v", r, err)
	}
}
