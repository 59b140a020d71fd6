package fastslow

import (
	"context"
	"testing"
)

// TestSharedPrompt checks that with FastChannel.Shared every task is improved and served under one prompt:
// what one task taught is served for another, so serving needs no task identity, and without it the tasks stay
// apart.
func TestSharedPrompt(t *testing.T) {
	ctx := context.Background()
	demosHelp := models[0].right
	for _, c := range []struct {
		shared string
		want   float64 // accuracy served for task "b", which was never improved
	}{{"", 0}, {"stream", 1}} {
		f := &FastChannel{Store: openStore(t), Demos: 2, Notes: 1, Seed: 3, Shared: c.shared}
		calls := 0
		run := model(&calls, demosHelp)
		if _, err := f.Improve(ctx, "a", reverseTrain, reverseVal, run); err != nil {
			t.Fatal(err)
		}
		if got := served(t, f, "a", reverseVal, run); got != 1 {
			t.Errorf("shared %q: task a served %.2f after its round, want 1", c.shared, got)
		}
		if got := served(t, f, "b", reverseVal, run); got != c.want {
			t.Errorf("shared %q: task b served %.2f, want %.2f", c.shared, got, c.want)
		}
		pa, _ := f.Population(ctx, "a")
		pb, _ := f.Population(ctx, "b")
		if c.shared != "" && len(pa) != len(pb) {
			t.Errorf("shared: populations of a (%d) and b (%d) differ", len(pa), len(pb))
		}
	}
}
