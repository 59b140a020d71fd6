package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/prompts"
)

// TestPromptsShowListsStored reproduces issue 14's "prompts show shows an empty prompt while prompts export of
// the same task holds notes, demos and feedback": the served candidate of task qa pins no lessons, demos or
// notes, and show lists everything the task stores (the same records export writes), says which are not in
// the served prompt and what becomes of the notes; a task with nothing promoted says so.
func TestPromptsShowListsStored(t *testing.T) {
	home := t.TempDir()
	seedStore(t, home) // qa serves candidate 1: a system text, no lessons, demos or notes
	s, err := prompts.Open(promptsDir(home), &prompts.Options{Small: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordFeedback(context.Background(), prompts.Feedback{Task: "qa", Input: "What is the capital of Marovia?",
		Output: "Quessa", Answer: "Tovik", Score: 0, Text: "wrong city"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	env := []string{"FASTSLOW_HOME=" + home}

	var d taskDetail
	runJSON(t, env, &d, "prompts", "show", "qa", "--json")
	var doc prompts.Document
	runJSON(t, env, &doc, "prompts", "export", "qa")
	if len(doc.Tasks) != 1 {
		t.Fatalf("export: %d tasks", len(doc.Tasks))
	}
	td := doc.Tasks[0]
	if len(d.Lessons)+len(d.Demos)+len(d.Notes) != 0 {
		t.Fatalf("the served candidate pins records: %+v", d)
	}
	got, _ := json.Marshal(d.Stored)
	want, _ := json.Marshal(storedRecords{Lessons: td.Lessons, Demos: td.Demos, Notes: td.Notes, Feedback: td.Feedback})
	if string(got) != string(want) {
		t.Fatalf("show --json stored:\n%s\nexport:\n%s", got, want)
	}
	if len(td.Lessons) != 1 || len(td.Demos) != 1 || len(td.Notes) != 1 || len(td.Feedback) != 1 {
		t.Fatalf("export of qa: %d lessons, %d demos, %d notes, %d feedback", len(td.Lessons), len(td.Demos), len(td.Notes), len(td.Feedback))
	}

	out, stderr, code := runCLI(t, env, "prompts", "show", "qa")
	if code != 0 {
		t.Fatalf("show: exit %d: %s", code, stderr)
	}
	for _, w := range []string{
		"stored for the task (1 lessons, 1 demos, 1 notes, 1 feedback records",
		"not in the served prompt: Answer with the city name only.",
		"not in the served prompt: What is the capital of Quenth? => Ambrel",
		"retrieved into the prompt for the inputs it matches: The capital of Zorblia is Quessa.",
		`on What is the capital of Marovia?: score 0.00, answer Tovik, "wrong city"`,
	} {
		if !strings.Contains(out, w) {
			t.Errorf("show lacks %q:\n%s", w, out)
		}
	}

	out, stderr, code = runCLI(t, env, "prompts", "show", "math")
	if code != 0 {
		t.Fatalf("show math: exit %d: %s", code, stderr)
	}
	for _, w := range []string{"no version promoted yet", "the task stores no lessons, demos, notes or feedback"} {
		if !strings.Contains(out, w) {
			t.Errorf("show math lacks %q:\n%s", w, out)
		}
	}
}
