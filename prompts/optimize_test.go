package prompts

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tmc/langchaingo/llms"
)

// copyRunner is a deterministic runner standing in for a small model that
// can only copy: it answers correctly exactly when the answer appears in
// the rendered prompt, and its verifier says what was expected.
type copyRunner struct {
	mu    sync.Mutex
	calls []string // "candidate/instance", in order
	// failAfter cancels (via cancel) after this many calls when > 0.
	failAfter int
	cancel    context.CancelFunc
}

func (r *copyRunner) Run(ctx context.Context, p Rendered, in Instance) (Outcome, error) {
	r.mu.Lock()
	r.calls = append(r.calls, fmt.Sprintf("%d/%s", p.Candidate, in.ID))
	n := len(r.calls)
	r.mu.Unlock()
	if r.failAfter > 0 && n == r.failAfter && r.cancel != nil {
		r.cancel()
	}
	if err := ctx.Err(); err != nil {
		return Outcome{}, err
	}
	if strings.Contains(p.Text(), in.Answer) {
		return Outcome{Output: in.Answer, Score: 1}, nil
	}
	return Outcome{Output: "unknown", Score: 0, Feedback: fmt.Sprintf("Expected %s.", in.Answer)}, nil
}

var capitals = [][2]string{
	{"Kenya", "Nairobi"}, {"Peru", "Lima"}, {"Norway", "Oslo"}, {"Chile", "Santiago"},
	{"Egypt", "Cairo"}, {"Japan", "Tokyo"}, {"Ghana", "Accra"}, {"Nepal", "Kathmandu"},
}

// capitalSets returns train and validation instances asking for the same
// capitals in different words.
func capitalSets() (train, val []Instance) {
	for i, c := range capitals {
		train = append(train, Instance{ID: fmt.Sprintf("t%d", i), Input: "Capital of " + c[0] + "?", Answer: c[1]})
		val = append(val, Instance{ID: fmt.Sprintf("v%d", i), Input: "Which city is the capital of " + c[0] + "?", Answer: c[1]})
	}
	return train, val
}

func TestOptimizerImproves(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "")
	mustTask(t, s, "cap")
	train, val := capitalSets()
	runner := &copyRunner{}
	var events []Event
	o := &Optimizer{Store: s, Runner: runner, Proposers: []Proposer{FactNotes{}, VerifierLessons{}, DemoSelector{}},
		OnEvent: func(e Event) { events = append(events, e) }}
	st, err := o.Start(ctx, RunConfig{Task: "cap", Train: train, Val: val, Budget: 160, Minibatch: 3, Seed: 7,
		SeedSystem: "Answer with the city name."})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != StatusDone || st.Rollouts < st.Budget && st.Stalled < maxStalled {
		t.Fatalf("run ended %s after %d of %d rollouts, %d stalled iterations", st.Status, st.Rollouts, st.Budget, st.Stalled)
	}
	if st.Rollouts > st.Budget+2*st.Minibatch+len(val) {
		t.Fatalf("run overshot its budget: %d rollouts", st.Rollouts)
	}
	if len(runner.calls) != st.Rollouts {
		t.Fatalf("runner called %d times, run counted %d rollouts", len(runner.calls), st.Rollouts)
	}
	if dup := duplicates(runner.calls); dup != "" {
		t.Fatalf("rollout %s ran twice", dup)
	}
	hist, err := s.History(ctx, "cap")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) < 2 || len(st.Promoted) != len(hist) {
		t.Fatalf("history %d versions, run promoted %v", len(hist), st.Promoted)
	}
	for _, v := range hist[1:] {
		if v.Evidence.Score < v.Evidence.Baseline || v.Evidence.Instances != len(val) {
			t.Fatalf("promotion lowered the score or compared the wrong set: %+v", v.Evidence)
		}
	}
	first, last := hist[0].Evidence.Score, hist[len(hist)-1].Evidence.Score
	t.Logf("validation mean %.3f -> %.3f over %d versions, %d rollouts, %d iterations", first, last, len(hist), st.Rollouts, st.Iteration)
	if last <= first {
		t.Fatalf("validation mean went from %.3f to %.3f", first, last)
	}
	cur, _ := s.Current(ctx, "cap")
	best, _ := s.Candidate(ctx, "cap", cur.Candidate)
	if best.Generation == 0 || len(best.Parents) != 1 {
		t.Fatalf("promoted candidate %+v has no lineage", best)
	}
	// Provenance: every lesson, demo and note the run wrote points at
	// stored feedback of this run.
	lessons, _ := s.Lessons(ctx, "cap")
	for _, l := range lessons {
		if len(l.Feedback) == 0 {
			t.Fatalf("lesson %d has no provenance", l.ID)
		}
		for _, id := range l.Feedback {
			fb, err := s.Feedback(ctx, "cap", id)
			if err != nil || fb.Run != st.ID {
				t.Fatalf("lesson %d provenance %d: %+v %v", l.ID, id, fb, err)
			}
		}
	}
	// Promoted notes became searchable.
	for _, id := range best.Notes {
		n, _ := s.Note(ctx, "cap", id)
		if n.Pending {
			t.Fatalf("note %d of the promoted candidate is still pending", id)
		}
	}
	its, err := s.Iterations(ctx, "cap", st.ID)
	if err != nil || len(its) != st.Iteration {
		t.Fatalf("%d iteration records for %d iterations (%v)", len(its), st.Iteration, err)
	}
	accepted := 0
	for _, r := range its {
		if r.Accepted {
			accepted++
		}
	}
	if accepted != st.Accepted || len(st.Pool) != accepted+1 {
		t.Fatalf("accepted %d, state says %d, pool %d", accepted, st.Accepted, len(st.Pool))
	}
	if events[len(events)-1].Kind != "done" {
		t.Fatalf("last event %+v", events[len(events)-1])
	}
}

func duplicates(calls []string) string {
	seen := map[string]bool{}
	for _, c := range calls {
		if seen[c] {
			return c
		}
		seen[c] = true
	}
	return ""
}

// shape is an iteration record without ids, to compare runs.
func shape(its []IterationRecord) []string {
	var out []string
	for _, r := range its {
		var ps, cs []string
		for _, id := range r.Batch {
			ps = append(ps, fmt.Sprint(r.ParentScores[id]))
			cs = append(cs, fmt.Sprint(r.ChildScores[id]))
		}
		out = append(out, fmt.Sprintf("%d %s %v %v %v %v %.3f %v", r.Iteration, r.Proposer, r.Batch, ps, cs, r.Accepted, r.ValMean, r.Promoted != 0))
	}
	return out
}

func TestOptimizerResumeAfterCancel(t *testing.T) {
	ctx := context.Background()
	train, val := capitalSets()
	cfg := RunConfig{Task: "cap", Train: train, Val: val, Budget: 120, Minibatch: 2, Seed: 3, SeedSystem: "Answer."}
	props := []Proposer{VerifierLessons{}, FactNotes{Max: 1}, DemoSelector{Max: 2}}

	// Uninterrupted reference run.
	ref := openTest(t, "")
	mustTask(t, ref, "cap")
	refRun, err := (&Optimizer{Store: ref, Runner: &copyRunner{}, Proposers: props}).Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	refIts, _ := ref.Iterations(ctx, "cap", refRun.ID)

	for _, stopAt := range []int{1, 9, 10, 31, 57} {
		t.Run(fmt.Sprint(stopAt), func(t *testing.T) {
			s := openTest(t, "")
			mustTask(t, s, "cap")
			cctx, cancel := context.WithCancel(ctx)
			r1 := &copyRunner{failAfter: stopAt, cancel: cancel}
			st, err := (&Optimizer{Store: s, Runner: r1, Proposers: props}).Start(cctx, cfg)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted run: %v", err)
			}
			stored, _ := s.Run(ctx, "cap", st.ID)
			if stored.Rollouts != stopAt-1 {
				t.Fatalf("stored %d rollouts after the runner was stopped at call %d", stored.Rollouts, stopAt)
			}
			r2 := &copyRunner{}
			done, err := (&Optimizer{Store: s, Runner: r2, Proposers: props}).Resume(ctx, "cap", st.ID)
			if err != nil {
				t.Fatal(err)
			}
			// The call in flight when the run stopped is redone; nothing else.
			all := append(slices.Clone(r1.calls[:stopAt-1]), r2.calls...)
			if dup := duplicates(all); dup != "" {
				t.Fatalf("rollout %s ran twice", dup)
			}
			if done.Rollouts != len(all) || done.Rollouts != refRun.Rollouts {
				t.Fatalf("rollouts %d (runner calls %d), uninterrupted run %d", done.Rollouts, len(all), refRun.Rollouts)
			}
			its, _ := s.Iterations(ctx, "cap", st.ID)
			if got, want := shape(its), shape(refIts); !slices.Equal(got, want) {
				t.Fatalf("resumed run differs from the uninterrupted one:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestOptimizerErrors(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "")
	mustTask(t, s, "e")
	_, val := capitalSets()
	cases := map[string]struct {
		o   *Optimizer
		cfg RunConfig
	}{
		"no proposers": {&Optimizer{Store: s, Runner: &copyRunner{}}, RunConfig{Task: "e", Val: val, Budget: 5}},
		"no val":       {&Optimizer{Store: s, Runner: &copyRunner{}, Proposers: []Proposer{FactNotes{}}}, RunConfig{Task: "e", Budget: 5}},
		"dup ids": {&Optimizer{Store: s, Runner: &copyRunner{}, Proposers: []Proposer{FactNotes{}}},
			RunConfig{Task: "e", Val: []Instance{{ID: "a"}, {ID: "a"}}, Budget: 5}},
		"unknown task": {&Optimizer{Store: s, Runner: &copyRunner{}, Proposers: []Proposer{FactNotes{}}}, RunConfig{Task: "zz", Val: val, Budget: 5}},
	}
	for name, tc := range cases {
		if _, err := tc.o.Start(ctx, tc.cfg); err == nil {
			t.Errorf("%s: Start succeeded", name)
		}
	}
	o := &Optimizer{Store: s, Runner: &copyRunner{}, Proposers: []Proposer{FactNotes{}}}
	if _, err := o.Resume(ctx, "e", 987654); !errors.Is(err, ErrNotFound) {
		t.Errorf("resume of a missing run = %v", err)
	}
}

func TestParetoParent(t *testing.T) {
	c := func(id uint64, scores ...float64) Candidate {
		m := map[string]float64{}
		for i, s := range scores {
			m[fmt.Sprint(i)] = s
		}
		return Candidate{ID: id, Scores: m}
	}
	val := []string{"0", "1", "2"}
	cases := []struct {
		name string
		pool []Candidate
		want []uint64 // the parents that may be drawn
	}{
		{"single", []Candidate{c(1, 0, 0, 0)}, []uint64{1}},
		{"one dominates", []Candidate{c(1, 0, 0, 0), c(2, 1, 1, 1)}, []uint64{2}},
		{"specialists", []Candidate{c(1, 1, 0, 0), c(2, 0, 1, 0), c(3, 0, 0, 1)}, []uint64{1, 2, 3}},
		{"tie keeps the stronger", []Candidate{c(1, 1, 0, 0), c(2, 1, 1, 0), c(3, 0, 0, 1)}, []uint64{2, 3}},
	}
	for _, tc := range cases {
		seen := map[uint64]bool{}
		for i := range 200 {
			seen[paretoParent(tc.pool, val, rand.New(rand.NewPCG(uint64(i), 1)))] = true
		}
		got := slices.Sorted(func(yield func(uint64) bool) {
			for id := range seen {
				if !yield(id) {
					return
				}
			}
		})
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: drew %v, want %v", tc.name, got, tc.want)
		}
	}
}

// scriptedModel is a test double for the language model alone: it
// returns scripted replies in order and records the prompts it got. The
// integration test uses a real Ollama model instead.
type scriptedModel struct {
	replies []string
	prompts []string
}

func (m *scriptedModel) GenerateContent(_ context.Context, msgs []llms.MessageContent, _ ...llms.CallOption) (*llms.ContentResponse, error) {
	var b strings.Builder
	for _, msg := range msgs {
		for _, p := range msg.Parts {
			if t, ok := p.(llms.TextContent); ok {
				b.WriteString(t.Text)
			}
		}
	}
	m.prompts = append(m.prompts, b.String())
	if len(m.replies) == 0 {
		return nil, errors.New("scripted model: no more replies")
	}
	r := m.replies[0]
	m.replies = m.replies[1:]
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{{Content: r}}}, nil
}

func (m *scriptedModel) Call(ctx context.Context, prompt string, opts ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, m, prompt, opts...)
}

func TestReflectiveProposerLessons(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "")
	mustTask(t, s, "ref")
	old, err := s.AddLesson(ctx, Lesson{Task: "ref", Text: "Answer in one word."})
	if err != nil {
		t.Fatal(err)
	}
	seed, err := s.AddCandidate(ctx, Candidate{Task: "ref", System: "Name capitals.", Lessons: []uint64{old.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetScores(ctx, "ref", seed.ID, map[string]float64{"v0": 0}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Promote(ctx, "ref", seed.ID, PromoteOptions{}); err != nil {
		t.Fatal(err)
	}
	train, val := capitalSets()
	model := &scriptedModel{replies: []string{
		fmt.Sprintf("Sure! Here is the delta:\n{\"add\": [\"The capital of Kenya is Nairobi.\", \"The capital of Peru is Lima.\", \"The capital of Norway is Oslo.\"], "+
			"\"edit\": [{\"id\": %d, \"text\": \"Answer with the capital city only.\"}, {\"id\": 999, \"text\": \"no such lesson\"}], "+
			"\"harmful\": [%d]}", old.ID, old.ID),
	}}
	o := &Optimizer{Store: s, Runner: &copyRunner{}, Proposers: []Proposer{Reflective{Model: model}}}
	st, err := o.Start(ctx, RunConfig{Task: "ref", Train: train[:3], Val: val[:3], Budget: 12, Minibatch: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(model.prompts) == 0 || !strings.Contains(model.prompts[0], "Capital of Kenya?") ||
		!strings.Contains(model.prompts[0], fmt.Sprintf("[%d] Answer in one word.", old.ID)) {
		t.Fatalf("reflection prompt lacks the failures or lessons:\n%v", model.prompts)
	}
	cur, _ := s.Current(ctx, "ref")
	if cur.Candidate == seed.ID || len(st.Promoted) != 1 {
		t.Fatalf("the reflective child was not promoted: %+v, %+v", cur, st)
	}
	child, _ := s.Candidate(ctx, "ref", cur.Candidate)
	if len(child.Lessons) != 4 || slices.Contains(child.Lessons, old.ID) {
		t.Fatalf("child lessons %v: want the edit in place of %d plus 3 new", child.Lessons, old.ID)
	}
	edited, _ := s.Lesson(ctx, "ref", child.Lessons[0])
	if edited.Replaces != old.ID || edited.Text != "Answer with the capital city only." || edited.Source != "reflective" {
		t.Fatalf("edited lesson %+v", edited)
	}
	o2, _ := s.Lesson(ctx, "ref", old.ID)
	if o2.Harmful != 1 {
		t.Fatalf("lesson tagged harmful has counts %+v", o2)
	}
	added, _ := s.Lesson(ctx, "ref", child.Lessons[1])
	if added.Helpful != 1 || len(added.Feedback) != 3 {
		t.Fatalf("new lesson %+v: want helpful 1 (the child was accepted) and 3 failing trials as provenance", added)
	}
	// Lessons are searchable right away.
	hits, _ := s.Search(ctx, "ref", KindLesson, "Kenya", 1)
	if len(hits) != 1 || hits[0].ID != child.Lessons[1] {
		t.Fatalf("search for the new lesson: %v", hits)
	}
}

func TestReflectiveProposerRewrite(t *testing.T) {
	in := ProposeInput{Task: "x", Parent: Candidate{System: "Old."}, Trials: []Trial{
		{Instance: Instance{Input: "q"}, Outcome: Outcome{Output: "a", Score: 0, Feedback: "wrong"}},
		{Instance: Instance{Input: "ok"}, Outcome: Outcome{Output: "fine", Score: 1}},
	}}
	cases := []struct {
		reply, want string
		empty       bool
	}{
		{"Here:\n```text\nNew instructions.\nBe exact.\n```\nDone.", "New instructions.\nBe exact.", false},
		{"```\nOld.\n```", "", true},
		{"Plain reply without fences", "Plain reply without fences", false},
	}
	for _, tc := range cases {
		m := &scriptedModel{replies: []string{tc.reply}}
		p, err := Reflective{Model: m, Mode: ReflectRewrite}.Propose(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		if p.Empty() != tc.empty || !tc.empty && *p.System != tc.want {
			t.Errorf("reply %q: proposal %+v", tc.reply, p)
		}
		if strings.Contains(m.prompts[0], "fine") {
			t.Errorf("a perfect trial was shown to the model")
		}
	}
	if _, err := (Reflective{Model: &scriptedModel{}}).Propose(context.Background(), in); err == nil {
		t.Error("a failing model call was not reported")
	}
}

func TestParseLessonDelta(t *testing.T) {
	parent := []Lesson{{ID: 5, Text: "old"}}
	cases := []struct {
		reply string
		add   int
		edits int
		tags  int
	}{
		{`{"add": ["a", " ", "b"], "edit": [{"id": 5, "text": "new"}], "helpful": [5, 6]}`, 2, 1, 1},
		{"Lessons:\n- first\n- second\nthat's all", 2, 0, 0},
		{`{"add": [`, 0, 0, 0},
		{`{"edit": [{"id": 7, "text": "x"}]}`, 0, 0, 0},
	}
	for _, tc := range cases {
		p := parseLessonDelta(tc.reply, parent)
		if len(p.AddLessons) != tc.add || len(p.EditLessons) != tc.edits || len(p.Helpful)+len(p.Harmful) != tc.tags {
			t.Errorf("%q: %+v", tc.reply, p)
		}
	}
}

func TestDeterministicProposers(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "")
	mustTask(t, s, "p")
	stored, _ := s.AddDemos(ctx, "p", []Demo{{Input: "Capital of Kenya?", Output: "Nairobi"}})
	trials := []Trial{
		{Instance: Instance{ID: "a", Input: "Capital of Kenya?", Answer: "Nairobi"}, Outcome: Outcome{Score: 0, Feedback: "Expected Nairobi.\nmore"}, Feedback: 11},
		{Instance: Instance{ID: "b", Input: "Capital of Peru?", Answer: "Lima"}, Outcome: Outcome{Score: 0.5, Feedback: "Expected Nairobi."}, Feedback: 12},
		{Instance: Instance{ID: "c", Input: "Capital of Chile?", Answer: "Santiago"}, Outcome: Outcome{Score: 1}, Feedback: 13},
	}
	in := ProposeInput{Task: "p", Trials: trials, Store: s, Lessons: []Lesson{{ID: 1, Text: "Avoid this mistake: Expected Lima."}}}
	p, err := DemoSelector{}.Propose(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.AddDemos) != 2 || p.AddDemos[0].ID != stored[0].ID || p.AddDemos[1].Input != "Capital of Peru?" || p.AddDemos[1].Output != "Lima" {
		t.Fatalf("demo selection: %+v", p.AddDemos)
	}
	p, _ = VerifierLessons{}.Propose(ctx, in)
	if len(p.AddLessons) != 1 || p.AddLessons[0].Text != "Avoid this mistake: Expected Nairobi." || !slices.Equal(p.AddLessons[0].Feedback, []uint64{11, 12}) {
		t.Fatalf("verifier lessons: %+v", p.AddLessons)
	}
	p, _ = FactNotes{}.Propose(ctx, in)
	if len(p.AddNotes) != 2 || p.AddNotes[0].Text != "Q: Capital of Kenya? A: Nairobi" {
		t.Fatalf("fact notes: %+v", p.AddNotes)
	}
	in.Trials = trials[2:]
	for _, pr := range []Proposer{DemoSelector{}, VerifierLessons{}, FactNotes{}} {
		if p, _ := pr.Propose(ctx, in); !p.Empty() {
			t.Errorf("%s proposed %+v with no failures", pr.Name(), p)
		}
	}
}

// TestOptimizerCurrentChangedDuringRun: when someone else promotes a
// candidate the run never scored, the run goes on but leaves the served
// version alone.
func TestOptimizerCurrentChangedDuringRun(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "")
	mustTask(t, s, "cap")
	train, val := capitalSets()
	var forced uint64
	o := &Optimizer{Store: s, Runner: &copyRunner{}, Proposers: []Proposer{FactNotes{}}}
	o.OnEvent = func(e Event) {
		if e.Kind == "promoted" && forced == 0 {
			c, err := s.AddCandidate(ctx, Candidate{Task: "cap", System: "manual"})
			if err != nil {
				t.Fatal(err)
			}
			v, err := s.Promote(ctx, "cap", c.ID, PromoteOptions{Force: true, Source: "test"})
			if err != nil {
				t.Fatal(err)
			}
			forced = v.Seq
		}
	}
	st, err := o.Start(ctx, RunConfig{Task: "cap", Train: train, Val: val, Budget: 80, Minibatch: 2, Seed: 5, SeedSystem: "s"})
	if err != nil {
		t.Fatal(err)
	}
	cur, _ := s.Current(ctx, "cap")
	if forced == 0 || cur.Seq != forced || st.Accepted == 0 || len(st.Promoted) != 1 {
		t.Fatalf("current %+v (forced %d), run %+v", cur, forced, st)
	}
	its, _ := s.Iterations(ctx, "cap", st.ID)
	noted := false
	for _, r := range its {
		noted = noted || r.Accepted && strings.HasPrefix(r.Note, "not promoted")
	}
	if !noted {
		t.Fatal("accepted iterations do not say why they were not promoted")
	}
}
