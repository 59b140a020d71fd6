package prompts_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/fastslow/fastslow/prompts"
)

// A store holds a task's notes; Search ranks them with BM25 and Render
// assembles the served prompt around the ones relevant to the query.
func ExampleStore() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "prompts-example-*")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := prompts.Open(filepath.Join(dir, "store"), &prompts.Options{Small: true})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	if _, err := s.CreateTask(ctx, prompts.Task{Name: "geo"}); err != nil {
		log.Fatal(err)
	}
	if _, err := s.AddNotes(ctx, "geo", []prompts.Note{
		{Text: "Quessa is the capital of Zorblia."},
		{Text: "The river Ambrel flows through Veltmor."},
	}); err != nil {
		log.Fatal(err)
	}
	c, err := s.AddCandidate(ctx, prompts.Candidate{Task: "geo", System: "Answer with one word.",
		Scores: map[string]float64{"v1": 1}})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := s.Promote(ctx, "geo", c.ID, prompts.PromoteOptions{Source: "example"}); err != nil {
		log.Fatal(err)
	}
	r, err := s.Render(ctx, "geo", "What is the capital of Zorblia?", prompts.RenderOptions{Notes: 1})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Prompt("What is the capital of Zorblia?"))
	// Output:
	// Answer with one word.
	//
	// Notes:
	// - Quessa is the capital of Zorblia.
	//
	// Input: What is the capital of Zorblia?
	// Output:
}

// copyModel is a deterministic stand-in for a model that can only copy:
// it answers right exactly when the answer is in its prompt.
type copyModel struct{}

func (copyModel) Run(_ context.Context, p prompts.Rendered, in prompts.Instance) (prompts.Outcome, error) {
	if strings.Contains(p.Text(), in.Answer) {
		return prompts.Outcome{Output: in.Answer, Score: 1}, nil
	}
	return prompts.Outcome{Output: "?", Feedback: "expected " + in.Answer}, nil
}

// The optimizer learns facts as pinned notes (FactNotes) until the
// validation set is solved, promoting each improvement through the gate.
func ExampleOptimizer() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "prompts-example-*")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := prompts.Open(filepath.Join(dir, "store"), &prompts.Options{Small: true})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CreateTask(ctx, prompts.Task{Name: "capitals"}); err != nil {
		log.Fatal(err)
	}
	var train, val []prompts.Instance
	for i, c := range [][2]string{{"Zorblia", "Quessa"}, {"Quenth", "Ambrel"}, {"Veltmor", "Ostrand"}} {
		train = append(train, prompts.Instance{ID: fmt.Sprint("t", i), Input: "Capital of " + c[0] + "?", Answer: c[1]})
		val = append(val, prompts.Instance{ID: fmt.Sprint("v", i), Input: "What is the capital of " + c[0] + "?", Answer: c[1]})
	}
	o := &prompts.Optimizer{Store: s, Runner: copyModel{}, Proposers: []prompts.Proposer{prompts.FactNotes{}}}
	st, err := o.Start(ctx, prompts.RunConfig{Task: "capitals", Train: train, Val: val, Budget: 60, Minibatch: 2, Seed: 1,
		SeedSystem: "Answer with the city."})
	if err != nil {
		log.Fatal(err)
	}
	hist, err := s.History(ctx, "capitals")
	if err != nil {
		log.Fatal(err)
	}
	for _, v := range hist {
		fmt.Printf("version %d: validation %.2f (was %.2f)\n", v.Seq, v.Evidence.Score, v.Evidence.Baseline)
	}
	fmt.Println("status:", st.Status)
	// Output:
	// version 1: validation 0.00 (was 0.00)
	// version 2: validation 0.67 (was 0.00)
	// version 3: validation 1.00 (was 0.67)
	// status: done
}
