package fastslow

import (
	"context"
	"testing"
)

var taskB = examples([][2]string{
	{"Q: river of Zorblia?\nA:", "Ostra"}, {"Q: river of Marovia?\nA:", "Kelm"},
	{"Q: river of Brundor?\nA:", "Vanta"}, {"Q: river of Osmira?\nA:", "Dreel"},
})

func TestReplayPlanMixesEarlierTasks(t *testing.T) {
	c := Chunk{Task: "rivers", Examples: taskB[:2], Options: DefaultOptions(), Earlier: taskA}
	plan, err := PolicyReplay.Plan(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Pairs) != 4 || plan.Budget >= 0 || plan.Steps != c.Options.Slow.Steps {
		t.Fatalf("plan: %d pairs, budget %g, %d steps; want 4 pairs, no budget, %d steps", len(plan.Pairs), plan.Budget, plan.Steps, c.Options.Slow.Steps)
	}
	seen := map[string]bool{}
	for _, p := range plan.Pairs[2:] {
		if seen[p.Prompt] {
			t.Fatalf("replayed %q twice", p.Prompt)
		}
		seen[p.Prompt] = true
	}
	c.Earlier = nil
	if plan, _ = PolicyReplay.Plan(context.Background(), c); len(plan.Pairs) != 2 {
		t.Fatalf("first task: %d pairs, want its own 2", len(plan.Pairs))
	}
}

// TestReplayForgetsLessThanWeights learns task A then task B with the weight-only baseline and with replay:
// replay keeps more of A.
func TestReplayForgetsLessThanWeights(t *testing.T) {
	if raceEnabled {
		t.Skip("trains for minutes under -race; the plain test run covers it")
	}
	if testing.Short() {
		t.Skip("trains four rounds")
	}
	ctx := context.Background()
	m, _ := tinyBase(t)
	accA := map[string]float64{}
	for _, p := range []Policy{PolicyWeights, PolicyReplay} {
		opts := DefaultOptions()
		opts.Policy, opts.Base, opts.Server = p, m, NewEngineServer(m)
		opts.Slow.Steps, opts.Slow.LR, opts.Slow.Seed = 90, 1e-2, 1
		l, err := NewLearner(ctx, t.TempDir(), opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range []struct {
			name string
			ex   []Example
		}{{"capitals", taskA}, {"rivers", taskB}} {
			if _, err := l.Learn(ctx, task.name, task.ex, task.ex); err != nil {
				t.Fatal(err)
			}
		}
		if accA[p.Name()], err = l.Accuracy(ctx, "capitals", taskA); err != nil {
			t.Fatal(err)
		}
		b, err := l.Accuracy(ctx, "rivers", taskB)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: task A %.2f, task B %.2f after both", p.Name(), accA[p.Name()], b)
		l.Close()
	}
	if !(accA["replay"] > accA["weights"]) {
		t.Fatalf("task A after task B: replay %.2f, weights %.2f; replay should keep more", accA["replay"], accA["weights"])
	}
}
