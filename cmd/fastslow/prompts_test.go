package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/prompts"
)

// seedStore writes a prompt store under home the way a learner would: task "qa" with three scored
// candidates, the first one promoted, and task "math" with nothing promoted. It returns the candidates.
func seedStore(t *testing.T, home string) [3]prompts.Candidate {
	t.Helper()
	ctx := context.Background()
	s, err := prompts.Open(promptsDir(home), &prompts.Options{Small: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = s.CreateTask(ctx, prompts.Task{Name: "qa", Description: "capitals of made-up countries"})
	must(err)
	_, err = s.CreateTask(ctx, prompts.Task{Name: "math"})
	must(err)
	lessons, err := s.AddLessons(ctx, "qa", []prompts.Lesson{{Text: "Answer with the city name only.", Helpful: 3}})
	must(err)
	demos, err := s.AddDemos(ctx, "qa", []prompts.Demo{{Input: "What is the capital of Quenth?", Output: "Ambrel"}})
	must(err)
	notes, err := s.AddNotes(ctx, "qa", []prompts.Note{{Text: "The capital of Zorblia is Quessa."}})
	must(err)
	var cs [3]prompts.Candidate
	specs := []prompts.Candidate{
		{Task: "qa", System: "You answer questions.", Proposer: "seed", Scores: map[string]float64{"v1": 0.5, "v2": 0.5}},
		{Task: "qa", System: "You answer questions about capitals.\nBe brief.", Proposer: "reflective", Generation: 1,
			Lessons: []uint64{lessons[0].ID}, Demos: []uint64{demos[0].ID}, Notes: []uint64{notes[0].ID},
			Scores: map[string]float64{"v1": 1, "v2": 0.5}},
		{Task: "qa", System: "Say anything.", Proposer: "reflective", Generation: 1, Scores: map[string]float64{"v1": 0, "v2": 0}},
	}
	for i, c := range specs {
		if i > 0 {
			c.Parents = []uint64{cs[0].ID}
		}
		cs[i], err = s.AddCandidate(ctx, c)
		must(err)
	}
	_, err = s.Promote(ctx, "qa", cs[0].ID, prompts.PromoteOptions{Source: "test"})
	must(err)
	return cs
}

// runJSON runs the command, which must succeed, and decodes its standard output into v.
func runJSON(t *testing.T, env []string, v any, args ...string) {
	t.Helper()
	stdout, stderr, code := runCLI(t, env, args...)
	if code != 0 {
		t.Fatalf("%v exited %d: %s", args, code, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), v); err != nil {
		t.Fatalf("%v printed %q: %v", args, stdout, err)
	}
}

type promptsListOutput struct {
	Store string        `json:"store"`
	Tasks []taskSummary `json:"tasks"`
}

// TestPrompts drives every prompts subcommand over a real badger store, as a user would.
func TestPrompts(t *testing.T) {
	home := t.TempDir()
	cs := seedStore(t, home)
	env := []string{"FASTSLOW_HOME=" + home}
	id := func(c prompts.Candidate) string { return strconv.FormatUint(c.ID, 10) }

	var list promptsListOutput
	runJSON(t, env, &list, "prompts", "list", "--json")
	if list.Store != promptsDir(home) || len(list.Tasks) != 2 {
		t.Fatalf("list: %+v", list)
	}
	math, qa := list.Tasks[0], list.Tasks[1]
	if math.Name != "math" || math.Version != 0 || math.Candidates != 0 {
		t.Errorf("math: %+v", math)
	}
	if qa.Name != "qa" || qa.Version != 1 || qa.Candidate != cs[0].ID || qa.Candidates != 3 || qa.Versions != 1 || qa.Description == "" {
		t.Errorf("qa: %+v", qa)
	}

	// The gate refuses a worse candidate; the store is unchanged.
	_, stderr, code := runCLI(t, env, "prompts", "promote", "qa", id(cs[2]))
	if code != exitFailure || !strings.Contains(stderr, "lower the validation score") || !strings.Contains(stderr, "--force") {
		t.Fatalf("promoting a worse candidate: exit %d, %s", code, stderr)
	}
	var v prompts.Version
	runJSON(t, env, &v, "prompts", "promote", "qa", id(cs[1]), "--reason", "better on v1", "--json")
	if v.Seq != 2 || v.Candidate != cs[1].ID || v.Action != prompts.ActionPromote || v.Evidence.Source != "cli" ||
		v.Evidence.Reason != "better on v1" || v.Evidence.Score != 0.75 || v.Evidence.Baseline != 0.5 {
		t.Errorf("promote: %+v", v)
	}

	var d taskDetail
	runJSON(t, env, &d, "prompts", "show", "qa", "--json")
	if d.Current == nil || d.Current.Seq != 2 || d.Candidate == nil || d.Candidate.ID != cs[1].ID {
		t.Fatalf("show: current %+v, candidate %+v", d.Current, d.Candidate)
	}
	if len(d.Lessons) != 1 || d.Lessons[0].Helpful != 3 || len(d.Demos) != 1 || d.Demos[0].Output != "Ambrel" ||
		len(d.Notes) != 1 || len(d.History) != 2 || len(d.Candidates) != 3 {
		t.Errorf("show: %+v", d)
	}
	if m := d.Candidates[1].Mean; m == nil || *m != 0.75 || d.Candidates[1].Scored != 2 {
		t.Errorf("candidate summary %+v", d.Candidates[1])
	}
	stdout, _, code := runCLI(t, env, "prompts", "show", "qa")
	for _, want := range []string{"serving version 2: candidate " + id(cs[1]), "  You answer questions about capitals.\n  Be brief.",
		"Answer with the city name only.  [+3 -0]", "What is the capital of Quenth? => Ambrel", "The capital of Zorblia is Quessa.",
		"gate passed on 2 instances", "by cli"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("show (text) lacks %q:\n%s", want, stdout)
		}
	}
	if code != 0 {
		t.Errorf("show exited %d", code)
	}

	runJSON(t, env, &v, "prompts", "rollback", "qa", "--json")
	if v.Seq != 3 || v.Candidate != cs[0].ID || v.Action != prompts.ActionRollback || v.Restores != 1 {
		t.Errorf("rollback: %+v", v)
	}
	_, stderr, code = runCLI(t, env, "prompts", "rollback", "qa", "--to", "9")
	if code != exitFailure || !strings.Contains(stderr, "not found") {
		t.Errorf("rollback to a missing version: exit %d, %s", code, stderr)
	}

	// Export to a file and to standard output; import into another home.
	file := filepath.Join(t.TempDir(), "qa.json")
	if _, stderr, code := runCLI(t, env, "prompts", "export", "qa", "-o", file); code != 0 {
		t.Fatalf("export exited %d: %s", code, stderr)
	}
	var doc prompts.Document
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &doc); err != nil || doc.Format != prompts.ExportFormat || len(doc.Tasks) != 1 || len(doc.Tasks[0].Versions) != 3 {
		t.Fatalf("exported document: %v, %+v", err, doc)
	}
	runJSON(t, env, &doc, "prompts", "export")
	if len(doc.Tasks) != 2 {
		t.Errorf("export of all tasks has %d", len(doc.Tasks))
	}

	other := []string{"FASTSLOW_HOME=" + t.TempDir()}
	var sum prompts.ImportSummary
	runJSON(t, other, &sum, "prompts", "import", file, "--json")
	if len(sum.Tasks) != 1 || sum.Tasks[0] != "qa" || sum.Versions != 3 || sum.Candidates != 3 || sum.Lessons != 1 {
		t.Errorf("import: %+v", sum)
	}
	runJSON(t, other, &list, "prompts", "list", "--json")
	if len(list.Tasks) != 1 || list.Tasks[0].Version != 3 || list.Tasks[0].Candidate != cs[0].ID {
		t.Errorf("after import: %+v", list.Tasks)
	}
	_, stderr, code = runCLI(t, other, "prompts", "import", file)
	if code != exitFailure || !strings.Contains(stderr, "already exists") {
		t.Errorf("importing a task twice: exit %d, %s", code, stderr)
	}
}

// TestPromptsEmpty: before anything is learned, listing shows nothing and creates nothing.
func TestPromptsEmpty(t *testing.T) {
	home := t.TempDir()
	env := []string{"FASTSLOW_HOME=" + home}
	var list promptsListOutput
	runJSON(t, env, &list, "prompts", "list", "--json")
	if len(list.Tasks) != 0 || list.Tasks == nil {
		t.Errorf("list: %+v, want an empty list", list)
	}
	stdout, _, _ := runCLI(t, env, "prompts", "list")
	if !strings.Contains(stdout, "no tasks") {
		t.Errorf("list (text): %q", stdout)
	}
	if _, err := os.Stat(promptsDir(home)); !os.IsNotExist(err) {
		t.Errorf("listing created the store: %v", err)
	}
}
