package lab

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/fastslow/fastslow/eval/world"
	"github.com/fastslow/fastslow/fastslow"
)

// Sizes caps how many examples of each split a task uses; the lab's time budget is mostly spent answering them.
type Sizes struct {
	Train, Validation, Test int
}

// DefaultSizes fit `fastslow lab` in its time budget on two cores with at least 50 test questions per task.
var DefaultSizes = Sizes{Train: 48, Validation: 14, Test: 50}

// InjectGroup is how many newcomers one knowledge-injection task teaches: their 7 facts each, in two
// wordings, make 140 training examples, and the 70 facts, asked in a third wording, are split between
// validation and test.
const InjectGroup = 10

// WorldTasks builds the named tasks of w for one seed. The seed varies the world the stream sees, not only
// the learner: which newcomers each knowledge-injection task teaches ("inject" or "inject1" the first
// InjectGroup of a seeded order of the newcomers, "inject2" the next ones, and so on), which of their facts are
// validation and which test, which examples of the other tasks are drawn for each split (at most sizes), and the
// order of the training examples. Validation and test never share a question.
func WorldTasks(w *world.World, names []string, sizes Sizes, seed uint64) ([]Task, error) {
	rng := rand.New(rand.NewPCG(seed, 0x3a11))
	newcomers := append([]world.Person(nil), w.Newcomers...)
	rng.Shuffle(len(newcomers), func(i, j int) { newcomers[i], newcomers[j] = newcomers[j], newcomers[i] })
	tasks := make([]Task, 0, len(names))
	for _, name := range names {
		base, group := name, 1
		if rest, ok := strings.CutPrefix(name, world.TaskInject); ok && rest != "" {
			g, err := strconv.Atoi(rest)
			if err != nil || g < 1 {
				return nil, fmt.Errorf("unknown task %q (inject takes a group number from 1: inject2, inject3, …)", name)
			}
			base, group = world.TaskInject, g
		}
		t, err := w.Task(base)
		if err != nil {
			return nil, err
		}
		task := Task{Name: name}
		if base == world.TaskInject {
			lo, hi := (group-1)*InjectGroup, group*InjectGroup
			if hi > len(newcomers) {
				return nil, fmt.Errorf("task %s needs %d newcomers, the world has %d", name, hi, len(newcomers))
			}
			var people []string
			for _, p := range newcomers[lo:hi] {
				people = append(people, p.Name())
			}
			task.Train = about(convert(t.Train), people)
			// The world splits each newcomer's probes into validation and test; here they are pooled and split
			// again by the seed, so every seed validates and tests on other facts.
			probes := about(convert(append(append([]world.Example(nil), t.Validation...), t.Test...)), people)
			rng.Shuffle(len(probes), func(i, j int) { probes[i], probes[j] = probes[j], probes[i] })
			nVal := min(sizes.Validation, len(probes)/5)
			if sizes.Validation <= 0 {
				nVal = len(probes) / 5
			}
			task.Validation = probes[:nVal]
			task.Test = sampleExamples(probes[nVal:], sizes.Test, rng)
		} else {
			task.Train = sampleExamples(convert(t.Train), sizes.Train, rng)
			task.Validation = sampleExamples(convert(t.Validation), sizes.Validation, rng)
			task.Test = sampleExamples(convert(t.Test), sizes.Test, rng)
		}
		rng.Shuffle(len(task.Train), func(i, j int) { task.Train[i], task.Train[j] = task.Train[j], task.Train[i] })
		for i := range task.Train {
			task.Train[i].Task = name
		}
		if len(task.Train) == 0 || len(task.Test) == 0 {
			return nil, fmt.Errorf("task %s has no training or test examples", name)
		}
		tasks = append(tasks, task)
	}
	return tasks, nil
}

// sampleExamples keeps n examples of ex drawn by rng, in their order (all when n <= 0 or ex is short).
func sampleExamples(ex []fastslow.Example, n int, rng *rand.Rand) []fastslow.Example {
	if n <= 0 || len(ex) <= n {
		return ex
	}
	idx := rng.Perm(len(ex))[:n]
	slices.Sort(idx)
	out := make([]fastslow.Example, n)
	for i, j := range idx {
		out[i] = ex[j]
	}
	return out
}

// about keeps the examples whose prompt names one of people.
func about(ex []fastslow.Example, people []string) []fastslow.Example {
	var out []fastslow.Example
	for _, e := range ex {
		for _, p := range people {
			if strings.Contains(e.Prompt, p) {
				out = append(out, e)
				break
			}
		}
	}
	return out
}

// DataTasks groups a user's examples into a stream by their task field (in order of first appearance; examples
// without one form the task "data") and splits each task 60/20/20 into train, validation and test, shuffled
// by seed.
func DataTasks(ex []world.Example, seed uint64, sizes Sizes) ([]Task, error) {
	var order []string
	groups := map[string][]fastslow.Example{}
	for _, e := range ex {
		name := e.Task
		if name == "" {
			name = "data"
		}
		if _, ok := groups[name]; !ok {
			order = append(order, name)
		}
		groups[name] = append(groups[name], fastslow.Example{Prompt: e.Prompt, Completion: e.Completion, Answer: e.Answer, Task: name})
	}
	rng := rand.New(rand.NewPCG(seed, 0x1ab))
	var tasks []Task
	for _, name := range order {
		g := groups[name]
		if len(g) < 3 {
			return nil, fmt.Errorf("task %q has %d examples; at least 3 are needed (train, validation, test)", name, len(g))
		}
		rng.Shuffle(len(g), func(i, j int) { g[i], g[j] = g[j], g[i] })
		nTrain := max(1, len(g)*6/10)
		nVal := max(1, len(g)*2/10)
		t := Task{Name: name, Train: g[:nTrain], Validation: g[nTrain : nTrain+nVal], Test: g[nTrain+nVal:]}
		if len(t.Test) == 0 {
			t.Test = t.Validation
		}
		t.Train, t.Validation, t.Test = spread(t.Train, sizes.Train), spread(t.Validation, sizes.Validation), spread(t.Test, sizes.Test)
		tasks = append(tasks, t)
	}
	if len(tasks) == 0 {
		return nil, fmt.Errorf("no examples")
	}
	return tasks, nil
}

// GeneralProbe asks n pretraining facts as fill-in-the-blank prompts about the known people of the validation
// group: the model learned them from biographies alone, and no task trains on them (tasks only validate their
// prompts on them), so the probe measures what adaptation does to knowledge it did not touch on purpose.
func GeneralProbe(w *world.World, n int) []fastslow.Example {
	cloze, err := w.Task(world.TaskCloze)
	if err != nil {
		return nil
	}
	var people []world.Person
	for _, p := range w.Known {
		for _, e := range cloze.Validation {
			if strings.Contains(e.Prompt, p.Name()) {
				people = append(people, p)
				break
			}
		}
	}
	attrs := world.Attributes()
	total := len(people) * len(attrs)
	step := max(1, total/max(n, 1))
	var out []fastslow.Example
	for i := 0; len(out) < n && i < total; i += step {
		p, a := people[i/len(attrs)], attrs[i%len(attrs)]
		prompt, err := world.Cloze(p, a, 0)
		if err != nil {
			continue
		}
		v, _ := p.Value(a)
		out = append(out, fastslow.Example{Prompt: prompt, Completion: " " + v, Answer: v, Task: "general"})
	}
	return out
}

// HeldOutProse returns n held-out prose passages of the world's corpus for perplexity and KL.
func HeldOutProse(ctx context.Context, w *world.World, n int) ([]string, error) {
	c, err := w.Corpus(ctx, world.CorpusOptions{BioVariants: 1, HeldOutChars: 600 * n})
	if err != nil {
		return nil, err
	}
	return c.HeldOut[:min(n, len(c.HeldOut))], nil
}

func convert(ex []world.Example) []fastslow.Example {
	out := make([]fastslow.Example, len(ex))
	for i, e := range ex {
		out[i] = fastslow.Example{Prompt: e.Prompt, Completion: e.Completion, Answer: e.Answer, Task: e.Task}
	}
	return out
}

// spread keeps n examples evenly spaced over ex (all when n <= 0 or ex is short), so a capped split still
// covers every person and attribute the split has.
func spread(ex []fastslow.Example, n int) []fastslow.Example {
	if n <= 0 || len(ex) <= n {
		return ex
	}
	out := make([]fastslow.Example, n)
	for i := range out {
		out[i] = ex[i*len(ex)/n]
	}
	return out
}
