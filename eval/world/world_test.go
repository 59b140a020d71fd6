package world

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func mustWorld(t *testing.T, opts Options) *World {
	t.Helper()
	w, err := New(opts)
	if err != nil {
		t.Fatalf("New(%+v): %v", opts, err)
	}
	return w
}

func TestNewDeterministic(t *testing.T) {
	a := mustWorld(t, Options{Seed: 7})
	b := mustWorld(t, Options{Seed: 7})
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed gave different worlds")
	}
	c := mustWorld(t, Options{Seed: 8})
	if reflect.DeepEqual(a.Known, c.Known) {
		t.Fatal("different seeds gave the same people")
	}
	// Growing the newcomer count must not disturb the known people, whose
	// biographies a pretrained model has already seen.
	d := mustWorld(t, Options{Seed: 7, Newcomers: 80})
	if !reflect.DeepEqual(a.Known, d.Known) {
		t.Fatal("changing Newcomers changed the known people")
	}
}

// TestRecipePinned pins the first person of seed 1. The embedded base model
// is pretrained on this world; if this test fails, the recipe changed and the
// model must be retrained (then update the expectation deliberately).
func TestRecipePinned(t *testing.T) {
	w := mustWorld(t, Options{Seed: 1})
	want := Person{First: "Netas", Last: "Voster", Birth: Date{8, 11, 1951}, City: "Drossholm",
		University: "Eskerwood College", Major: "Astronomy", Employer: "Lumenor Health",
		Occupation: "journalist", Color: "maroon"}
	if got := w.Known[0]; got != want {
		t.Fatalf("seed 1 first person = %+v, want %+v", got, want)
	}
}

func TestOptionsValidation(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		ok   bool
	}{
		{"defaults", Options{}, true},
		{"small", Options{Known: 5, Newcomers: 5}, true},
		{"too few known", Options{Known: 4}, false},
		{"negative newcomers", Options{Newcomers: -1}, false},
		{"too many", Options{Known: maxPeople, Newcomers: 5}, false},
		{"fractions sum to one", Options{TrainFrac: 0.8, ValFrac: 0.2}, false},
		{"negative fraction", Options{TrainFrac: -0.1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			if (err == nil) != tt.ok {
				t.Fatalf("New(%+v) error = %v, want ok=%v", tt.opts, err, tt.ok)
			}
		})
	}
}

func TestPeopleValid(t *testing.T) {
	w := mustWorld(t, Options{Seed: 3, Known: 4000, Newcomers: 1000})
	seen := map[string]bool{}
	for _, p := range slices.Concat(w.Known, w.Newcomers) {
		if seen[p.Name()] {
			t.Fatalf("duplicate name %q", p.Name())
		}
		seen[p.Name()] = true
		d := p.Birth
		if d.Year < minBirthYear || d.Year > maxBirthYear || d.Month < 1 || d.Month > 12 || d.Day < 1 || d.Day > daysIn(d.Month, d.Year) {
			t.Fatalf("%s: invalid birth date %+v", p.Name(), d)
		}
		for _, c := range []struct {
			v    string
			list []string
		}{{p.City, cities}, {p.University, universities}, {p.Major, majors}, {p.Employer, employers}, {p.Occupation, occupations}, {p.Color, colors}} {
			if !slices.Contains(c.list, c.v) {
				t.Fatalf("%s: value %q not from its table", p.Name(), c.v)
			}
		}
	}
	if len(seen) != 5000 {
		t.Fatalf("got %d people, want 5000", len(seen))
	}
}

func TestDateString(t *testing.T) {
	tests := []struct {
		d    Date
		want string
	}{
		{Date{14, 3, 1987}, "14 March 1987"},
		{Date{1, 12, 2004}, "1 December 2004"},
		{Date{29, 2, 2000}, "29 February 2000"},
		{Date{1, 13, 2000}, "1 ?13? 2000"},
	}
	for _, tt := range tests {
		if got := tt.d.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestDaysIn(t *testing.T) {
	tests := []struct{ month, year, want int }{
		{2, 1900, 28}, {2, 2000, 29}, {2, 1996, 29}, {2, 1997, 28}, {4, 1990, 30}, {12, 1990, 31},
	}
	for _, tt := range tests {
		if got := daysIn(tt.month, tt.year); got != tt.want {
			t.Errorf("daysIn(%d, %d) = %d, want %d", tt.month, tt.year, got, tt.want)
		}
	}
}

func TestBiographies(t *testing.T) {
	w := mustWorld(t, Options{Seed: 11})
	for _, p := range w.Known[:20] {
		bios := Biographies(p)
		orders := map[string]bool{}
		for i, b := range bios {
			// Every paraphrase states every fact.
			var order []int
			for _, a := range Attributes() {
				v, _ := p.Value(a)
				at := strings.Index(b, v)
				if at < 0 {
					t.Fatalf("template %d for %s lacks %s=%q: %s", i, p.Name(), a, v, b)
				}
				order = append(order, at)
			}
			if !strings.Contains(b, p.Name()) {
				t.Fatalf("template %d lacks the name: %s", i, b)
			}
			// Record the order in which facts appear.
			idx := make([]int, len(order))
			for k := range idx {
				idx[k] = k
			}
			slices.SortFunc(idx, func(x, y int) int { return order[x] - order[y] })
			orders[fmt.Sprint(idx)] = true
			for j := range i {
				if bios[j] == b {
					t.Fatalf("templates %d and %d are identical", i, j)
				}
			}
		}
		if len(orders) < 3 {
			t.Fatalf("%s: facts appear in only %d distinct orders across templates", p.Name(), len(orders))
		}
		if Biography(p, -1) != bios[NumBioTemplates-1] || Biography(p, NumBioTemplates) != bios[0] {
			t.Fatal("Biography does not wrap its variant index")
		}
	}
}

func TestQuestionAndClozeErrors(t *testing.T) {
	p := mustWorld(t, Options{}).Known[0]
	if _, err := Question(p, "shoe_size", 0); err == nil {
		t.Error("Question accepted an unknown attribute")
	}
	if _, err := Cloze(p, "shoe_size", 0); err == nil {
		t.Error("Cloze accepted an unknown attribute")
	}
	if _, ok := p.Value("shoe_size"); ok {
		t.Error("Value accepted an unknown attribute")
	}
	for _, a := range Attributes() {
		for ph := range NumPhrasings {
			q, err := Question(p, a, ph)
			if err != nil || !strings.Contains(q, p.Name()) || !strings.HasSuffix(q, "?") {
				t.Errorf("Question(%s, %d) = %q, %v", a, ph, q, err)
			}
			c, err := Cloze(p, a, ph)
			if err != nil || !strings.Contains(c, p.Name()) {
				t.Errorf("Cloze(%s, %d) = %q, %v", a, ph, c, err)
			}
		}
		q0, _ := Question(p, a, 0)
		q1, _ := Question(p, a, 1)
		if q0 == q1 {
			t.Errorf("%s: question phrasings are identical", a)
		}
	}
}

func TestWithArticle(t *testing.T) {
	tests := []struct{ in, want string }{
		{"engineer", "an engineer"}, {"baker", "a baker"}, {"architect", "an architect"}, {"", "a "},
	}
	for _, tt := range tests {
		if got := withArticle(tt.in); got != tt.want {
			t.Errorf("withArticle(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

var (
	ageRe  = regexp.MustCompile(`^Q: How old was (.+) on 31 December (\d+)\?\nA:$`)
	diffRe = regexp.MustCompile(`^Q: How many years apart were (.+) and (.+) born\?\nA:$`)
)

func TestTasks(t *testing.T) {
	w := mustWorld(t, Options{Seed: 5, Known: 50, Newcomers: 10})
	byName := map[string]Person{}
	for _, p := range w.Known {
		byName[p.Name()] = p
	}
	newcomer := map[string]bool{}
	for _, p := range w.Newcomers {
		newcomer[p.Name()] = true
	}
	// peopleIn returns the known people whose names occur in the examples.
	peopleIn := func(exs []Example) map[string]bool {
		out := map[string]bool{}
		for _, ex := range exs {
			for n := range byName {
				if strings.Contains(ex.Prompt, n+" ") || strings.Contains(ex.Prompt, n+"?") || strings.Contains(ex.Prompt, n+"'") {
					out[n] = true
				}
			}
		}
		return out
	}
	tests := []struct {
		name       string
		wantAnswer func(ex Example) string // "" when not checkable by rule
	}{
		{TaskQA, nil},
		{TaskCloze, nil},
		{TaskUpper, nil},
		{TaskBrackets, nil},
		{TaskArithmetic, func(ex Example) string {
			if m := ageRe.FindStringSubmatch(ex.Prompt); m != nil {
				y, _ := strconv.Atoi(m[2])
				return strconv.Itoa(y - byName[m[1]].Birth.Year)
			}
			if m := diffRe.FindStringSubmatch(ex.Prompt); m != nil {
				d := byName[m[1]].Birth.Year - byName[m[2]].Birth.Year
				return strconv.Itoa(max(d, -d))
			}
			t.Fatalf("unexpected arithmetic prompt %q", ex.Prompt)
			return ""
		}},
		{TaskInject, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task, err := w.Task(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if task.Name != tt.name || task.Description == "" {
				t.Fatalf("task header %q %q", task.Name, task.Description)
			}
			for split, exs := range map[string][]Example{"train": task.Train, "validation": task.Validation, "test": task.Test} {
				if len(exs) == 0 {
					t.Fatalf("%s split is empty", split)
				}
				for _, ex := range exs {
					if ex.Task != tt.name || ex.Answer == "" || ex.Completion != " "+ex.Answer {
						t.Fatalf("%s: malformed example %+v", split, ex)
					}
					if tt.wantAnswer != nil {
						if want := tt.wantAnswer(ex); ex.Answer != want {
							t.Fatalf("%q: answer %q, want %q", ex.Prompt, ex.Answer, want)
						}
					}
					switch tt.name {
					case TaskUpper:
						if ex.Answer != strings.ToUpper(ex.Answer) {
							t.Fatalf("upper-case task answer %q", ex.Answer)
						}
					case TaskBrackets:
						if !strings.HasPrefix(ex.Answer, "[") || !strings.HasSuffix(ex.Answer, "]") {
							t.Fatalf("brackets task answer %q", ex.Answer)
						}
					}
				}
			}
			if tt.name == TaskInject {
				trainPrompts := map[string]bool{}
				trainFacts := map[string]bool{}
				for _, ex := range task.Train {
					trainPrompts[ex.Prompt] = true
					trainFacts[ex.Answer] = true
				}
				for _, ex := range slices.Concat(task.Validation, task.Test) {
					if trainPrompts[ex.Prompt] {
						t.Fatalf("inject probe %q also appears in training", ex.Prompt)
					}
					if !trainFacts[ex.Answer] {
						t.Fatalf("inject probe %q asks a fact never trained", ex.Prompt)
					}
				}
				if len(peopleIn(slices.Concat(task.Train, task.Test))) != 0 {
					t.Fatal("inject task mentions known people")
				}
				return
			}
			// Known-people tasks split by person: nobody asked about in
			// training is asked about in test.
			train, test := peopleIn(task.Train), peopleIn(task.Test)
			for n := range test {
				if train[n] {
					t.Fatalf("%s appears in both train and test", n)
				}
			}
			for n := range peopleIn(slices.Concat(task.Train, task.Validation, task.Test)) {
				if newcomer[n] {
					t.Fatalf("known-people task mentions newcomer %s", n)
				}
			}
		})
	}
}

func TestStream(t *testing.T) {
	w := mustWorld(t, Options{Seed: 2})
	all, err := w.Stream()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, task := range all {
		names = append(names, task.Name)
	}
	if !slices.Equal(names, TaskNames()) {
		t.Fatalf("default stream %v, want %v", names, TaskNames())
	}
	cyc, err := w.Stream(TaskQA, TaskUpper, TaskQA)
	if err != nil || len(cyc) != 3 || !reflect.DeepEqual(cyc[0], cyc[2]) {
		t.Fatalf("cyclic stream: %v, %d tasks", err, len(cyc))
	}
	if _, err := w.Stream(TaskQA, "poetry"); err == nil || !strings.Contains(err.Error(), "poetry") {
		t.Fatalf("unknown task error = %v", err)
	}
}
