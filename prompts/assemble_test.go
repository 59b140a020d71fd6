package prompts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func testParts() Parts {
	p := Parts{Task: "t", Candidate: 9, System: "You answer arithmetic questions."}
	for i := range 6 {
		p.Lessons = append(p.Lessons, Lesson{ID: uint64(10 + i), Text: fmt.Sprintf("Lesson number %d: check\nyour work.", i)})
		p.Notes = append(p.Notes, Note{ID: uint64(20 + i), Text: fmt.Sprintf("Fact %d is stored here.", i)})
		p.Demos = append(p.Demos, Demo{ID: uint64(30 + i), Input: fmt.Sprintf("%d+%d", i, i), Output: fmt.Sprint(2 * i)})
	}
	return p
}

func TestAssembleBudget(t *testing.T) {
	p := testParts()
	full, err := Assemble(p, Budget{})
	if err != nil {
		t.Fatal(err)
	}
	if full.Dropped != 0 || len(full.Lessons) != 6 || len(full.Notes) != 6 || len(full.Demos) != 6 {
		t.Fatalf("unlimited render dropped things: %+v", full)
	}
	if !strings.Contains(full.System, "Lessons:\n- Lesson number 0: check your work.") || !strings.Contains(full.System, "Notes:\n- Fact 0") {
		t.Fatalf("system prompt:\n%s", full.System)
	}
	prev := -1
	for max := len(p.System); max <= full.Chars+10; max += 7 {
		r, err := Assemble(p, Budget{MaxChars: max})
		if err != nil {
			t.Fatalf("MaxChars %d: %v", max, err)
		}
		if r.Chars > max || len(r.Text()) != r.Chars {
			t.Fatalf("MaxChars %d: rendered %d chars (Text %d)", max, r.Chars, len(r.Text()))
		}
		kept := len(r.Lessons) + len(r.Notes) + len(r.Demos)
		if kept+r.Dropped != 18 {
			t.Fatalf("MaxChars %d: kept %d + dropped %d != 18", max, kept, r.Dropped)
		}
		if kept < prev {
			t.Fatalf("MaxChars %d kept %d items, a smaller budget kept %d", max, kept, prev)
		}
		prev = kept
		again, _ := Assemble(p, Budget{MaxChars: max})
		if again.Text() != r.Text() {
			t.Fatal("same inputs rendered differently")
		}
	}
	if prev != 18 {
		t.Fatalf("the full budget kept %d items", prev)
	}
	// Precedence: a tight budget keeps the first lessons before any note.
	r, _ := Assemble(p, Budget{MaxChars: len(p.System) + 120})
	if len(r.Lessons) == 0 || len(r.Notes) > 0 && len(r.Lessons) < 6 {
		t.Fatalf("precedence broken: lessons %v notes %v", r.Lessons, r.Notes)
	}
	if !slices.Equal(r.Lessons, []uint64{10, 11, 12}[:len(r.Lessons)]) {
		t.Fatalf("kept lessons %v, want the first ones", r.Lessons)
	}
	words := func(s string) int { return len(strings.Fields(s)) }
	r, err = Assemble(p, Budget{MaxTokens: 40, Tokens: words})
	if err != nil || words(r.Text()) > 40 || r.Tokens != words(r.Text()) {
		t.Fatalf("token budget: %d tokens, %v", r.Tokens, err)
	}
	if _, err := Assemble(p, Budget{MaxChars: 5}); !errors.Is(err, ErrBudget) {
		t.Fatalf("system text over budget = %v", err)
	}
}

func TestRenderedForms(t *testing.T) {
	r := Rendered{System: "Be brief.", Demos: []Demo{{Input: "1+1", Output: "2"}}}
	if got := r.Prompt("2+2"); got != "Be brief.\n\nExamples:\nInput: 1+1\nOutput: 2\n\nInput: 2+2\nOutput:" {
		t.Fatalf("Prompt = %q", got)
	}
	want := []Message{{"system", "Be brief."}, {"user", "1+1"}, {"assistant", "2"}, {"user", "2+2"}}
	if got := r.Messages("2+2"); !slices.Equal(got, want) {
		t.Fatalf("Messages = %v", got)
	}
}

func TestRenderCandidate(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "")
	mustTask(t, s, "r")
	ls, err := s.AddLessons(ctx, "r", []Lesson{
		{Text: "For multiplication, multiply digit by digit."},
		{Text: "For subtraction, borrow from the next column."},
		{Text: "Always state units."},
	})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := s.AddNotes(ctx, "r", []Note{{Text: "Seven times eight is 56 (multiplication table)."}, {Text: "Pending: nine times nine is 81 multiplication", Pending: true}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddNotes(ctx, "r", []Note{{Text: "Unrelated geography fact about rivers."}}); err != nil {
		t.Fatal(err)
	}
	ds, err := s.AddDemos(ctx, "r", []Demo{{Input: "9-3", Output: "6"}, {Input: "7*8 multiplication", Output: "56"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.AddCandidate(ctx, Candidate{Task: "r", System: "Solve it.", Lessons: []uint64{ls[0].ID, ls[1].ID, ls[2].ID},
		Demos: []uint64{ds[0].ID, ds[1].ID}, Notes: []uint64{ns[1].ID}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.RenderCandidate(ctx, "r", c.ID, "What is 7 times 8? multiplication", RenderOptions{Lessons: 1, Demos: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Lessons, []uint64{ls[0].ID}) {
		t.Fatalf("lessons %v, want the multiplication lesson %d", r.Lessons, ls[0].ID)
	}
	if len(r.Demos) != 1 || r.Demos[0].ID != ds[1].ID {
		t.Fatalf("demos %+v", r.Demos)
	}
	if !slices.Contains(r.Notes, ns[0].ID) || !slices.Contains(r.Notes, ns[1].ID) || len(r.Notes) != 2 {
		t.Fatalf("notes %v: want the retrieved fact %d and the pinned pending one %d only", r.Notes, ns[0].ID, ns[1].ID)
	}
	if _, err := s.Render(ctx, "r", "x", RenderOptions{}); !errors.Is(err, ErrNoVersion) {
		t.Fatalf("Render without a version = %v", err)
	}
	if _, err := s.SetScores(ctx, "r", c.ID, map[string]float64{"a": 1}); err != nil {
		t.Fatal(err)
	}
	v, err := s.Promote(ctx, "r", c.ID, PromoteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.Render(ctx, "r", "What is 7 times 8? multiplication", RenderOptions{Lessons: 1, Demos: 1})
	if err != nil || r2.Version != v.Seq || r2.Text() != r.Text() {
		t.Fatalf("Render = %+v, %v; want the candidate's rendering", r2, err)
	}
}

func ExampleAssemble() {
	r, err := Assemble(Parts{
		System:  "You convert temperatures.",
		Lessons: []Lesson{{ID: 1, Text: "Round to one decimal."}, {ID: 2, Text: "Say which scale you used."}},
		Notes:   []Note{{ID: 3, Text: "F = C * 9/5 + 32"}},
		Demos:   []Demo{{ID: 4, Input: "100 C", Output: "212.0 F"}},
	}, Budget{MaxChars: 130})
	if err != nil {
		panic(err)
	}
	fmt.Println(r.Prompt("37 C"))
	fmt.Println("dropped:", r.Dropped)
	// Output:
	// You convert temperatures.
	//
	// Lessons:
	// - Round to one decimal.
	// - Say which scale you used.
	//
	// Notes:
	// - F = C * 9/5 + 32
	//
	// Input: 37 C
	// Output:
	// dropped: 1
}
