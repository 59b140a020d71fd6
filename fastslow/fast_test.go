package fastslow

import (
	"context"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tmc/langchaingo/llms/fake"

	"github.com/fastslow/fastslow/prompts"
)

// The fast channel's tests use a deterministic stand-in for a model on the task "reverse the word": it reads the
// plain prompt (blocks separated by blank lines; the last block is the notes and the input) and answers right or
// wrong depending on what the prompt shows it, so each test knows which candidates should win.

func reversal(words ...string) []Example {
	out := make([]Example, len(words))
	for i, w := range words {
		r := []rune(w)
		slices.Reverse(r)
		out[i] = Example{Prompt: "Reverse " + w + ":", Completion: " " + string(r), Answer: string(r)}
	}
	return out
}

var (
	reverseTrain = reversal("stone", "river", "cloud", "amber", "forest", "violet", "copper", "meadow")
	reverseVal   = reversal("lantern", "harbor", "pepper", "silver", "garden", "window")
)

// seen is what a plain prompt shows the model.
type seen struct {
	word    string   // the word the input asks about
	demos   int      // worked examples, each a block of its own
	lessons []string // "- " lines
	notes   []string // the lines before the input in its block
}

func read(p string) seen {
	blocks := strings.Split(p, "\n\n")
	last := strings.Split(blocks[len(blocks)-1], "\n")
	s := seen{notes: last[:len(last)-1]}
	s.word = strings.TrimSuffix(strings.TrimPrefix(last[len(last)-1], "Reverse "), ":")
	for _, b := range blocks[:len(blocks)-1] {
		switch {
		case strings.HasPrefix(b, "- "):
			s.lessons = append(s.lessons, strings.Split(b, "\n")...)
		case strings.HasPrefix(b, "Reverse "):
			s.demos++
		}
	}
	return s
}

// model answers right when right says so, and otherwise echoes the word; it counts its calls.
func model(calls *int, right func(p string, s seen) bool) RunFunc {
	return func(_ context.Context, p string) (string, error) {
		*calls++
		s := read(p)
		if right(p, s) {
			r := []rune(s.word)
			slices.Reverse(r)
			return " " + string(r), nil
		}
		return " " + s.word, nil
	}
}

var models = []struct {
	name  string
	right func(p string, s seen) bool
}{
	{"demos help", func(_ string, s seen) bool { return s.demos > 0 }},
	{"demos hurt", func(_ string, s seen) bool { return s.demos == 0 }},
	{"lessons hurt", func(_ string, s seen) bool { return len(s.lessons) == 0 }},
	{"never right", func(string, seen) bool { return false }},
	{"noisy", func(p string, _ seen) bool {
		h := fnv.New32a()
		h.Write([]byte(p))
		return h.Sum32()%3 != 0
	}},
}

func openStore(t *testing.T) *prompts.Store {
	t.Helper()
	s, err := prompts.Open(filepath.Join(t.TempDir(), "prompts"), &prompts.Options{Small: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// served is the accuracy of the task's served prompt on ex under run.
func served(t *testing.T, f *FastChannel, task string, ex []Example, run RunFunc) float64 {
	t.Helper()
	right := 0
	for _, e := range ex {
		p, err := f.Render(context.Background(), task, e.Prompt)
		if err != nil {
			t.Fatal(err)
		}
		out, err := run(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		if e.Correct(out) {
			right++
		}
	}
	return float64(right) / float64(len(ex))
}

func TestImproveNeverLowersValidation(t *testing.T) {
	ctx := context.Background()
	for _, m := range models {
		t.Run(m.name, func(t *testing.T) {
			f := &FastChannel{Store: openStore(t), Demos: 2, Notes: 1, Seed: 3}
			calls := 0
			run := model(&calls, m.right)
			for round := range 3 {
				before := served(t, f, "reverse", reverseVal, run)
				r, err := f.Improve(ctx, "reverse", reverseTrain, reverseVal, run)
				if err != nil {
					t.Fatal(err)
				}
				after := served(t, f, "reverse", reverseVal, run)
				t.Logf("round %d: %s; served %.2f -> %.2f", round, r.Summary(), before, after)
				if round > 0 && r.Baseline != before {
					t.Errorf("round %d: baseline %.2f, but the served prompt scored %.2f before the round", round, r.Baseline, before)
				}
				if r.Score < r.Baseline || after < r.Baseline {
					t.Errorf("round %d: validation went from %.2f to %.2f (served %.2f)", round, r.Baseline, r.Score, after)
				}
				if after != r.Score {
					t.Errorf("round %d: the served prompt scores %.2f, the round reported %.2f", round, after, r.Score)
				}
				if r.Version.Seq == 0 || r.Scores[r.Version.Candidate] != after {
					t.Errorf("round %d: served version %+v has score %.2f in %v", round, r.Version, after, r.Scores)
				}
				if r.Candidates < 1 || r.Rollouts == 0 {
					t.Errorf("round %d: %d candidates, %d rollouts", round, r.Candidates, r.Rollouts)
				}
			}
			if m.name == "demos help" && served(t, f, "reverse", reverseVal, run) != 1 {
				t.Error("demos help, but the served prompt did not learn to carry one")
			}
		})
	}
}

func TestImprovePromotesAndResumesFromCurrentVersion(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	f := &FastChannel{Store: s, Demos: 2, Notes: 1, Seed: 1}
	calls := 0
	run := model(&calls, models[0].right) // demos help
	r1, err := f.Improve(ctx, "reverse", reverseTrain, reverseVal, run)
	if err != nil {
		t.Fatal(err)
	}
	if !r1.Promoted || r1.Score != 1 || r1.Baseline != 0 || r1.Best.Proposer != "demos" || len(r1.Best.Demos) == 0 {
		t.Fatalf("first round: %s; best %+v", r1.Summary(), r1.Best)
	}
	if r1.Version.Candidate != r1.Best.ID {
		t.Fatalf("served candidate %d, best %d", r1.Version.Candidate, r1.Best.ID)
	}
	// The failures became feedback for the proposers: the expected answer of each failing instance.
	fbs, err := s.ListFeedback(ctx, "reverse")
	if err != nil {
		t.Fatal(err)
	}
	if len(fbs) == 0 || !strings.HasPrefix(fbs[0].Text, "expected: ") || fbs[0].Score != 0 {
		t.Fatalf("feedback %+v", fbs)
	}

	r2, err := f.Improve(ctx, "reverse", reverseTrain, reverseVal, run)
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Run(ctx, "reverse", r2.Run)
	if err != nil {
		t.Fatal(err)
	}
	if st.Base != r1.Version.Candidate {
		t.Fatalf("second round started from candidate %d, the served one is %d", st.Base, r1.Version.Candidate)
	}
	if r2.Promoted || r2.Baseline != 1 || r2.Score != 1 || r2.Version.Seq != r1.Version.Seq {
		t.Fatalf("second round: %s, version %d (first round: version %d)", r2.Summary(), r2.Version.Seq, r1.Version.Seq)
	}

	pop, err := f.Population(ctx, "reverse")
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(pop); i++ {
		a, _ := pop[i-1].Mean(nil)
		b, _ := pop[i].Mean(nil)
		if a < b {
			t.Fatalf("population not best first: %.2f before %.2f", a, b)
		}
	}
	if len(pop) < 2 || pop[0].ID != r1.Best.ID && len(pop[0].Demos) == 0 {
		t.Fatalf("population %+v", pop)
	}
}

func TestImproveRolloutBudget(t *testing.T) {
	ctx := context.Background()
	const mb = 3
	v := len(reverseVal)
	tests := []struct {
		name     string
		rollouts int
		want     int // the most runner calls
	}{
		{"below the served prompt's and the bare input's scoring", 2, 2 * v},
		{"one iteration", v + 2*mb, v + 2*mb},
		{"a few iterations", 40, 40},
		{"default", 0, DefaultRollouts(v, len(reverseTrain))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &FastChannel{Store: openStore(t), Demos: 2, Notes: 1, Rollouts: tt.rollouts, Minibatch: mb, Seed: 2}
			calls := 0
			// A model that is never right keeps every iteration busy, so the budget is what stops the round.
			r, err := f.Improve(ctx, "reverse", reverseTrain, reverseVal, model(&calls, models[3].right))
			if err != nil {
				t.Fatal(err)
			}
			if calls != r.Rollouts {
				t.Errorf("%d runner calls, the round reported %d", calls, r.Rollouts)
			}
			if calls > tt.want {
				t.Errorf("%d runner calls, budget %d", calls, tt.want)
			}
			// Within one iteration (a parent and a child on a minibatch, the child on the validation set) of it.
			if least := tt.want - (2*mb + v) + 1 - v; calls < least {
				t.Errorf("%d runner calls: the round stopped early (budget %d)", calls, tt.want)
			}
		})
	}
}

func TestImproveReflector(t *testing.T) {
	ctx := context.Background()
	// Without demos the proposers are verifier, facts and the reflector; only the reflector's lesson helps.
	f := &FastChannel{Store: openStore(t), Notes: 1, Seed: 1, Rollouts: 120,
		Reflector: fake.NewFakeLLM([]string{`{"add": ["Spell the word backwards."]}`})}
	calls := 0
	run := model(&calls, func(_ string, s seen) bool { return slices.Contains(s.lessons, "- Spell the word backwards.") })
	r, err := f.Improve(ctx, "reverse", reverseTrain, reverseVal, run)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Promoted || r.Score != 1 || r.Best.Proposer != "reflective" {
		t.Fatalf("%s; best %+v", r.Summary(), r.Best)
	}
	p, err := f.Render(ctx, "reverse", reverseVal[0].Prompt)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p, "- Spell the word backwards.\n\n") {
		t.Fatalf("served prompt %q lacks the lesson", p)
	}
}

func TestRenderPlainFormat(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	for _, task := range []string{"promoted", "fresh"} {
		if _, err := s.EnsureTask(ctx, task, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddNotes(ctx, task, []prompts.Note{{Text: "Reverse cat: tac"}, {Text: "Reverse dog: god"}}); err != nil {
			t.Fatal(err)
		}
	}
	l, err := s.AddLesson(ctx, prompts.Lesson{Task: "promoted", Text: "Read the letters\nfrom the end."})
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.AddDemos(ctx, "promoted", []prompts.Demo{{Input: "Reverse ab:", Output: " ba"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.AddCandidate(ctx, prompts.Candidate{Task: "promoted", System: "Reverse each word.", Lessons: []uint64{l.ID}, Demos: []uint64{d[0].ID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Promote(ctx, "promoted", c.ID, prompts.PromoteOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, task, input string
		f                 FastChannel
		want              string
	}{
		{"promoted", "promoted", "Reverse cat:", FastChannel{Demos: 3, Notes: 1},
			"Reverse each word.\n\n- Read the letters from the end.\n\nReverse ab: ba\n\nReverse cat: tac\nReverse cat:"},
		{"no demos", "promoted", "Reverse cat:", FastChannel{Notes: 1},
			"Reverse each word.\n\n- Read the letters from the end.\n\nReverse cat: tac\nReverse cat:"},
		{"no notes", "promoted", "Reverse cat:", FastChannel{Demos: 3},
			"Reverse each word.\n\n- Read the letters from the end.\n\nReverse ab: ba\n\nReverse cat:"},
		// The input counts against the limits and is never cut. The store chooses what fits, measured in its own
		// (longer) format, with lessons before notes before demos: here only the note fits with the system text.
		{"tight", "promoted", "Reverse cat:", FastChannel{Demos: 3, Notes: 1, MaxChars: 70},
			"Reverse each word.\n\nReverse cat: tac\nReverse cat:"},
		{"tighter", "promoted", "Reverse cat:", FastChannel{Demos: 3, Notes: 1, MaxChars: 40},
			"Reverse each word.\n\nReverse cat:"},
		{"token limit", "promoted", "Reverse cat:", FastChannel{Demos: 3, Notes: 1, MaxTokens: 10,
			Tokens: func(s string) int { return len(strings.Fields(s)) }},
			"Reverse each word.\n\nReverse cat: tac\nReverse cat:"},
		// Before any promotion the notes retrieved for the input are served (feedback teaches at once).
		{"nothing promoted", "fresh", "Reverse dog:", FastChannel{Demos: 3, Notes: 1}, "Reverse dog: god\nReverse dog:"},
		{"unknown task", "nosuch", "Reverse dog:", FastChannel{Demos: 3, Notes: 1}, "Reverse dog:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.f
			f.Store = s
			got, err := f.Render(ctx, tt.task, tt.input)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("Render:\n got %q\nwant %q", got, tt.want)
			}
			for _, heading := range []string{"Notes:", "Lessons:", "Examples:", "Input:", "Output:"} {
				if strings.Contains(got, heading) {
					t.Fatalf("plain prompt %q has the heading %q", got, heading)
				}
			}
		})
	}
}

// TestFit: the plain format within a budget keeps the system text and the input, then notes, lessons and
// demos in that precedence (prompts.FormatPlain, as FastChannel serves it).
func TestFit(t *testing.T) {
	demos := []prompts.Demo{{Input: "Reverse ab:", Output: " ba"}, {Input: "Reverse cd:", Output: " dc"}, {Input: "Reverse ab:", Output: " ba"}}
	lessons := []string{"Read from\nthe end.", "Mind the case."}
	notes := []string{"Reverse cat: tac", "Reverse cat: tac", "Reverse dog: god"}
	full := "Be brief.\n\n- Read from the end.\n- Mind the case.\n\nReverse ab: ba\n\nReverse cd: dc\n\nReverse cat: tac\nReverse dog: god\nReverse cow:"
	tests := []struct {
		name     string
		maxChars int
		want     string
	}{
		{"no limit", 0, full},
		{"fits", len(full), full},
		{"last demo out", len(full) - 1, "Be brief.\n\n- Read from the end.\n- Mind the case.\n\nReverse ab: ba\n\nReverse cat: tac\nReverse dog: god\nReverse cow:"},
		{"demos out", 96, "Be brief.\n\n- Read from the end.\n- Mind the case.\n\nReverse cat: tac\nReverse dog: god\nReverse cow:"},
		{"then the last lesson", 95, "Be brief.\n\n- Read from the end.\n\nReverse cat: tac\nReverse dog: god\nReverse cow:"},
		{"then every lesson", 78, "Be brief.\n\nReverse cat: tac\nReverse dog: god\nReverse cow:"},
		{"then the last note", 56, "Be brief.\n\nReverse cat: tac\nReverse cow:"},
		{"the input stays", 5, "Be brief.\n\nReverse cow:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := prompts.Parts{System: " Be brief. ", Demos: demos, Format: prompts.FormatPlain, Input: "Reverse cow:"}
			for i, l := range lessons {
				p.Lessons = append(p.Lessons, prompts.Lesson{ID: uint64(i + 1), Text: l})
			}
			for i, n := range notes {
				p.Notes = append(p.Notes, prompts.Note{ID: uint64(i + 1), Text: n})
			}
			r, err := prompts.Assemble(p, (&FastChannel{MaxChars: tt.maxChars}).budget())
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Prompt("Reverse cow:"); got != tt.want {
				t.Fatalf("plain prompt:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestImproveServesRetrievedNote(t *testing.T) {
	ctx := context.Background()
	f := &FastChannel{Store: openStore(t), Demos: 1, Notes: 1, Seed: 1}
	calls := 0
	run := model(&calls, models[0].right)
	// Validation asks the training words again: their notes are retrieved for them.
	if _, err := f.Improve(ctx, "reverse", reverseTrain, reverseTrain[:4], run); err != nil {
		t.Fatal(err)
	}
	e := reverseTrain[2]
	p, err := f.Render(ctx, "reverse", e.Prompt)
	if err != nil {
		t.Fatal(err)
	}
	note := e.Prompt + e.Completion
	if !strings.HasSuffix(p, "\n\n"+note+"\n"+e.Prompt) && p != note+"\n"+e.Prompt {
		t.Fatalf("served prompt %q does not end with the note %q and the input", p, note)
	}
	if s := read(p); s.demos > 1 || len(s.notes) != 1 {
		t.Fatalf("served prompt %q: %d demos, notes %q", p, s.demos, s.notes)
	}
}

// A prompt cycle on a stand-in model that reverses words only after seeing a worked example: the optimizer
// promotes a candidate carrying one, and the served prompt shows it before the retrieved note and the input.
func ExampleFastChannel_Improve() {
	dir, err := os.MkdirTemp("", "fastslow-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	store, err := prompts.Open(filepath.Join(dir, "prompts"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	ctx := context.Background()
	f := &FastChannel{Store: store, Demos: 1, Notes: 1, Seed: 1}
	calls := 0
	run := model(&calls, func(_ string, s seen) bool { return s.demos > 0 })
	r, err := f.Improve(ctx, "reverse", reverseTrain, reverseVal, run)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("validation %.2f -> %.2f, promoted %v\n", r.Baseline, r.Score, r.Promoted)
	p, err := f.Render(ctx, "reverse", "Reverse stone:")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p)
	// Output:
	// validation 0.00 -> 1.00, promoted true
	// Reverse amber: rebma
	//
	// Reverse stone: enots
	// Reverse stone:
}
