package fastslow

import (
	"context"
	"strings"
	"testing"
)

func examples(pairs [][2]string) []Example {
	out := make([]Example, len(pairs))
	for i, p := range pairs {
		out[i] = Example{Prompt: p[0], Completion: " " + p[1], Answer: p[1]}
	}
	return out
}

var taskA = examples([][2]string{
	{"Q: capital of Zorblia?\nA:", "Quessa"}, {"Q: capital of Marovia?\nA:", "Tovik"},
	{"Q: capital of Brundor?\nA:", "Lidmar"}, {"Q: capital of Osmira?\nA:", "Pavel"},
})

func TestLearnerPolicies(t *testing.T) {
	if raceEnabled {
		t.Skip("trains for minutes under -race; the plain test run covers it")
	}
	ctx := context.Background()
	m, _ := tinyBase(t)
	for _, policy := range Policies() {
		t.Run(policy.Name(), func(t *testing.T) {
			var events []Event
			opts := DefaultOptions()
			opts.Policy, opts.Base, opts.Server = policy, m, NewEngineServer(m)
			opts.Slow.Steps, opts.Slow.Chunk, opts.Slow.LR, opts.Slow.Seed = 90, 30, 1e-2, 1
			opts.FSTSteps, opts.Budget = 180, 0.5
			opts.Events = func(e Event) { events = append(events, e) }
			l, err := NewLearner(ctx, t.TempDir(), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			r, err := l.Learn(ctx, "capitals", taskA, taskA)
			if err != nil {
				t.Fatal(err)
			}
			acc, err := l.Accuracy(ctx, "capitals", taskA)
			if err != nil {
				t.Fatal(err)
			}
			p, err := l.Prompt(ctx, "capitals", taskA[0].Prompt)
			if err != nil {
				t.Fatal(err)
			}
			switch policy {
			case PolicyWeights, PolicyReplay:
				if r.WeightSteps != 90 || r.Prompt.Candidates != 0 || p != taskA[0].Prompt {
					t.Fatalf("weights: %d steps, %d candidates, prompt %q", r.WeightSteps, r.Prompt.Candidates, p)
				}
				if acc != 1 {
					t.Fatalf("weights: accuracy %.2f after training, want 1", acc)
				}
			case PolicyPrompts:
				if r.WeightSteps != 0 || l.Slow().Handle() != "" {
					t.Fatalf("prompts: the weights changed (%d steps)", r.WeightSteps)
				}
				if r.Prompt.Candidates < 2 || !strings.Contains(p, "Quessa") {
					t.Fatalf("prompts: %d candidates; served prompt %q lacks the retrieved fact", r.Prompt.Candidates, p)
				}
			case PolicyFST:
				if r.Prompt.Candidates < 2 || r.WeightSteps == 0 {
					t.Fatalf("fst: %d candidates, %d steps", r.Prompt.Candidates, r.WeightSteps)
				}
				if acc != 1 {
					t.Fatalf("fst: accuracy %.2f after training, want 1", acc)
				}
			}
			if len(events) == 0 {
				t.Fatal("no progress events")
			}
		})
	}
}

func TestExampleCorrect(t *testing.T) {
	e := Example{Prompt: "Q: Where was Alia Brenn born?\nA:", Completion: " Veltmor", Answer: "Veltmor"}
	tests := []struct {
		out  string
		want bool
	}{
		{" Veltmor", true},
		{"Veltmor", true},
		{" Veltmor\nQ: Where did she study?", true},
		{" Veltmor. She studied at Quessa.", true},
		{" Veltmor, a city", true},
		{" Veltmor City", false},
		{" Veltmorian", false},
		{" Quessa", false},
		{"", false},
		{"\nVeltmor", true},
	}
	for _, tt := range tests {
		if got := e.Correct(tt.out); got != tt.want {
			t.Errorf("Correct(%q) = %v, want %v", tt.out, got, tt.want)
		}
	}
}
