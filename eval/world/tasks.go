package world

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Task is a named family of examples with fixed train, validation and test
// splits. Every example's Task field equals Name.
type Task struct {
	Name        string
	Description string
	Train       []Example
	Validation  []Example
	Test        []Example
}

// Names of the task families.
const (
	// TaskQA asks about known people's attributes in question form:
	// "Q: Where was Alia Brenn born?\nA:" → " Veltmor".
	TaskQA = "qa"
	// TaskCloze asks the same facts as fill-in-the-blank prompts:
	// "Alia Brenn was born in" → " Veltmor".
	TaskCloze = "cloze"
	// TaskArithmetic asks for ages and birth-year differences, which must be
	// computed from remembered birth dates.
	TaskArithmetic = "arith"
	// TaskInject teaches facts about people absent from pretraining
	// (knowledge injection) and tests them under a different wording.
	TaskInject = "inject"
	// TaskUpper asks known-person questions whose answer must be in
	// capital letters.
	TaskUpper = "upper"
	// TaskBrackets asks known-person questions whose answer must be wrapped
	// in square brackets.
	TaskBrackets = "brackets"
)

// TaskNames returns the names of all task families in the default stream
// order.
func TaskNames() []string {
	return []string{TaskQA, TaskCloze, TaskArithmetic, TaskInject, TaskUpper, TaskBrackets}
}

// Stream returns the named tasks in the given order, or every task in the
// TaskNames order when no name is given. A name may appear more than once
// (cyclic streams revisit tasks).
func (w *World) Stream(names ...string) ([]Task, error) {
	if len(names) == 0 {
		names = TaskNames()
	}
	out := make([]Task, 0, len(names))
	for _, n := range names {
		t, err := w.Task(n)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// Task builds the named task family.
func (w *World) Task(name string) (Task, error) {
	split := w.personSplit()
	switch name {
	case TaskQA:
		return w.factTask(name, "Attribute questions about known people (Q/A format).", split, func(p Person, a Attribute) (string, string, string) {
			q, _ := Question(p, a, 0)
			v, _ := p.Value(a)
			return QAPrompt(q), " " + v, v
		}), nil
	case TaskCloze:
		return w.factTask(name, "Attribute facts about known people as fill-in-the-blank prompts.", split, func(p Person, a Attribute) (string, string, string) {
			c, _ := Cloze(p, a, 0)
			v, _ := p.Value(a)
			return c, " " + v, v
		}), nil
	case TaskUpper:
		return w.factTask(name, "Attribute questions about known people, answered in capital letters.", split, func(p Person, a Attribute) (string, string, string) {
			q, _ := Question(p, a, 0)
			v, _ := p.Value(a)
			v = strings.ToUpper(v)
			return QAPrompt(q + " Answer in capital letters."), " " + v, v
		}), nil
	case TaskBrackets:
		return w.factTask(name, "Attribute questions about known people, answered in square brackets.", split, func(p Person, a Attribute) (string, string, string) {
			q, _ := Question(p, a, 0)
			v, _ := p.Value(a)
			v = "[" + v + "]"
			return QAPrompt(q + " Answer in square brackets."), " " + v, v
		}), nil
	case TaskArithmetic:
		return w.arithmeticTask(split), nil
	case TaskInject:
		return w.injectTask(), nil
	}
	return Task{}, fmt.Errorf("world: unknown task %q (known: %s)", name, strings.Join(TaskNames(), ", "))
}

// personSplit partitions the known people into train, validation and test
// groups, so that test questions are about people never asked about in
// training: only their biographies were seen.
func (w *World) personSplit() [3][]Person {
	n := len(w.Known)
	nTrain := max(1, int(math.Round(w.opts.TrainFrac*float64(n))))
	nVal := max(1, int(math.Round(w.opts.ValFrac*float64(n))))
	if nTrain+nVal > n-1 {
		// Keep at least one test person; opts.validate guarantees n >= 5.
		nVal = max(1, n-1-nTrain)
		nTrain = n - 1 - nVal
	}
	order := newRNG(w.opts.Seed, streamSplit).Perm(n)
	var groups [3][]Person
	for rank, idx := range order {
		g := 2
		switch {
		case rank < nTrain:
			g = 0
		case rank < nTrain+nVal:
			g = 1
		}
		groups[g] = append(groups[g], w.Known[idx])
	}
	return groups
}

// factTask makes one example per (person, attribute) in each split group.
func (w *World) factTask(name, desc string, split [3][]Person, render func(Person, Attribute) (prompt, completion, answer string)) Task {
	var sets [3][]Example
	for g, people := range split {
		for _, p := range people {
			for _, a := range Attributes() {
				prompt, completion, answer := render(p, a)
				sets[g] = append(sets[g], Example{Prompt: prompt, Completion: completion, Answer: answer, Task: name})
			}
		}
	}
	return Task{Name: name, Description: desc, Train: sets[0], Validation: sets[1], Test: sets[2]}
}

// Years asked about in age questions.
const (
	minAskYear = maxBirthYear + 1
	maxAskYear = 2040
)

// arithmeticTask asks, per person, two ages on 31 December of a drawn year
// (the birthday has passed by then, so age = year − birth year), and the
// difference of birth years with the next person of the same split group.
func (w *World) arithmeticTask(split [3][]Person) Task {
	r := newRNG(w.opts.Seed, streamArithmetic)
	var sets [3][]Example
	for g, people := range split {
		for j, p := range people {
			for range 2 {
				y := minAskYear + r.Intn(maxAskYear-minAskYear+1)
				age := strconv.Itoa(y - p.Birth.Year)
				sets[g] = append(sets[g], Example{
					Prompt:     QAPrompt(fmt.Sprintf("How old was %s on 31 December %d?", p.Name(), y)),
					Completion: " " + age, Answer: age, Task: TaskArithmetic,
				})
			}
			if len(people) < 2 {
				continue
			}
			q := people[(j+1)%len(people)]
			diff := p.Birth.Year - q.Birth.Year
			if diff < 0 {
				diff = -diff
			}
			ans := strconv.Itoa(diff)
			sets[g] = append(sets[g], Example{
				Prompt:     QAPrompt(fmt.Sprintf("How many years apart were %s and %s born?", p.Name(), q.Name())),
				Completion: " " + ans, Answer: ans, Task: TaskArithmetic,
			})
		}
	}
	return Task{
		Name:        TaskArithmetic,
		Description: "Ages and birth-year differences computed from known people's birth dates.",
		Train:       sets[0], Validation: sets[1], Test: sets[2],
	}
}

// injectTask trains every fact about the newcomers in two wordings (cloze
// and question phrasing 0) and tests the same facts asked with question
// phrasing 1; the facts are split between validation and test.
func (w *World) injectTask() Task {
	t := Task{Name: TaskInject, Description: "Facts about people absent from pretraining: trained as statements and questions, tested with reworded questions."}
	var probes []Example
	for _, p := range w.Newcomers {
		for _, a := range Attributes() {
			v, _ := p.Value(a)
			c, _ := Cloze(p, a, 0)
			q0, _ := Question(p, a, 0)
			q1, _ := Question(p, a, 1)
			t.Train = append(t.Train,
				Example{Prompt: c, Completion: " " + v, Answer: v, Task: TaskInject},
				Example{Prompt: QAPrompt(q0), Completion: " " + v, Answer: v, Task: TaskInject})
			probes = append(probes, Example{Prompt: QAPrompt(q1), Completion: " " + v, Answer: v, Task: TaskInject})
		}
	}
	for i, idx := range newRNG(w.opts.Seed, streamInject).Perm(len(probes)) {
		if i < len(probes)/2 {
			t.Validation = append(t.Validation, probes[idx])
		} else {
			t.Test = append(t.Test, probes[idx])
		}
	}
	return t
}
