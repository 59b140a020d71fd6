package fastslow

import (
	"context"
	"testing"
)

// TestSlowChannelKeepsOptimizer checks that AdamW's state survives a round boundary: the second round of an
// adapter carries on from the first round's optimizer (its step count goes on from there), and a rollback
// drops it, so the next round starts a fresh optimizer for the version it trains.
func TestSlowChannelKeepsOptimizer(t *testing.T) {
	ctx := context.Background()
	m, _ := tinyBase(t)
	s, err := OpenSlowChannel(ctx, m, t.TempDir(), "moments", NewEngineServer(m))
	if err != nil {
		t.Fatal(err)
	}
	opt := slowOpts(func(o *SlowOptions) { o.Steps = 4; o.Chunk = 2; o.Budget = -1; o.Seed = 1 })
	for round, want := range []int{4, 8} {
		r, err := s.Train(ctx, "a", capitals[:2], nil, opt, nil)
		if err != nil || !r.Promoted {
			t.Fatalf("round %d: %+v, %v", round+1, r, err)
		}
		if s.moments == nil || s.moments.Step != want {
			t.Fatalf("after round %d the optimizer state is %+v, want step %d", round+1, s.moments, want)
		}
	}
	if err := s.Rollback(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if s.moments != nil {
		t.Fatalf("after a rollback the optimizer state of step %d is kept", s.moments.Step)
	}
	r, err := s.Train(ctx, "a", capitals[:2], nil, opt, nil)
	if err != nil || !r.Promoted || s.moments == nil || s.moments.Step != 4 {
		t.Fatalf("round after rollback: %+v, %v; state %+v, want a fresh optimizer at step 4", r, err, s.moments)
	}
}
