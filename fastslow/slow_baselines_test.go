package fastslow

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
)

// TestSlowChannelBaselineOptions checks the continual-learning baselines' hooks: FreezeBelow keeps the lower
// blocks' adapter exactly zero through two rounds while the upper blocks learn, and WeightDecay leaves a smaller
// adapter than the same round without it.
func TestSlowChannelBaselineOptions(t *testing.T) {
	ctx := context.Background()
	m, _ := tinyBase(t)
	norm := func(s *SlowChannel, lower bool, n int) float64 {
		sum := 0.0
		for _, p := range s.Adapter().Params() {
			isLower := false
			for l := range n {
				isLower = isLower || strings.HasPrefix(p.Name, fmt.Sprintf("blk.%d.", l))
			}
			if isLower == lower {
				for _, v := range p.Data {
					sum += float64(v) * float64(v)
				}
			}
		}
		return math.Sqrt(sum)
	}
	train := func(set func(*SlowOptions)) *SlowChannel {
		t.Helper()
		s, err := OpenSlowChannel(ctx, m, t.TempDir(), "test", NewEngineServer(m))
		if err != nil {
			t.Fatal(err)
		}
		for i, task := range []string{"a", "b"} {
			opt := slowOpts(func(o *SlowOptions) { o.Steps = 6; o.LR = 1e-2; o.Budget = -1; o.Seed = 1; set(o) })
			if r, err := s.Train(ctx, task, capitals[2*i:2*i+2], nil, opt, nil); err != nil || !r.Promoted {
				t.Fatalf("round %s: %+v, %v", task, r, err)
			}
		}
		return s
	}
	frozen := m.Config.Layers / 2
	if frozen < 1 {
		t.Fatalf("the tiny model has %d blocks; the test needs 2", m.Config.Layers)
	}
	s := train(func(o *SlowOptions) { o.FreezeBelow = frozen })
	if lo, hi := norm(s, true, frozen), norm(s, false, frozen); lo != 0 || hi == 0 {
		t.Errorf("FreezeBelow %d: lower blocks' adapter norm %g (want 0), upper %g (want > 0)", frozen, lo, hi)
	}
	plain := norm(train(func(*SlowOptions) {}), false, 0)
	decayed := norm(train(func(o *SlowOptions) { o.WeightDecay = 10 }), false, 0)
	if !(decayed < plain) {
		t.Errorf("adapter norm with weight decay %g, without %g: want smaller", decayed, plain)
	}
	for _, bad := range []func(*SlowOptions){func(o *SlowOptions) { o.WeightDecay = -1 }, func(o *SlowOptions) { o.FreezeBelow = -1 }} {
		if err := slowOpts(bad).validate(); err == nil {
			t.Errorf("%+v: no error", slowOpts(bad))
		}
	}
}
