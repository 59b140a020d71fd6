package lab

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/fastslow/fastslow/eval/pretrain"
	"github.com/fastslow/fastslow/eval/world"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/llama"
)

// Scorer returns log p(completion | prompt) under some model, summed over the completion's tokens.
type Scorer func(prompt, completion string) (float64, error)

// ModelScorer scores with m and adapter a (nil for the base model). The prompt is encoded with BOS, the
// completion without, as fine-tuning sequences are built (weights.Sequences).
func ModelScorer(m *weights.Model, a *llama.Adapter) Scorer {
	return func(prompt, completion string) (float64, error) {
		p := m.Tokenizer.Encode(prompt, true)
		c := m.Tokenizer.Encode(completion, false)
		if len(c) == 0 {
			return 0, fmt.Errorf("probe: completion %q encodes to no tokens", completion)
		}
		if len(p)+len(c) > m.Config.ContextLength {
			return 0, fmt.Errorf("probe: prompt and completion (%d tokens) exceed the context of %d", len(p)+len(c), m.Config.ContextLength)
		}
		ll, _, err := m.LogLikelihood(p, c, a)
		return ll, err
	}
}

// ProbeItem is one fact to probe: the prompt that asks for it, the right answer and wrong answers of the same
// kind (other values of the same attribute). Each answer is scored as the completion " "+answer.
type ProbeItem struct {
	Prompt      string   `json:"prompt"`
	Answer      string   `json:"answer"`
	Distractors []string `json:"distractors"`
}

// ProbeResult is what the likelihood probe found for one item.
type ProbeResult struct {
	// Rank counts the distractors scored at least as high as the right answer: 0 means the right answer is
	// the most likely of the candidates. Ties count against the answer.
	Rank int `json:"rank"`
	// Candidates is the number of answers compared (the right one and its distractors).
	Candidates int `json:"candidates"`
	// Margin is log p(answer) − max log p(distractor), in nats: positive when the answer is preferred.
	Margin float64 `json:"margin"`
}

// Known reports whether the right answer is still preferred to every distractor: the knowledge is measurably
// there, whatever the model now generates.
func (r ProbeResult) Known() bool { return r.Rank == 0 }

// Probe scores every item's answer and distractors with score. A model that answers wrongly because it lost
// the way to a fact (an answer format, a task alignment) still ranks the fact's value above the other values
// of the attribute; a model whose fact was overwritten does not.
func Probe(ctx context.Context, score Scorer, items []ProbeItem) ([]ProbeResult, error) {
	out := make([]ProbeResult, len(items))
	for i, it := range items {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if len(it.Distractors) == 0 {
			return nil, fmt.Errorf("probe: item %d (%q) has no distractors", i, it.Prompt)
		}
		right, err := score(it.Prompt, " "+it.Answer)
		if err != nil {
			return nil, fmt.Errorf("probe: item %d: %w", i, err)
		}
		best := math.Inf(-1)
		r := ProbeResult{Candidates: 1 + len(it.Distractors)}
		for _, d := range it.Distractors {
			if d == it.Answer {
				return nil, fmt.Errorf("probe: item %d: distractor %q is the answer", i, d)
			}
			ll, err := score(it.Prompt, " "+d)
			if err != nil {
				return nil, fmt.Errorf("probe: item %d: %w", i, err)
			}
			if ll >= right {
				r.Rank++
			}
			best = max(best, ll)
		}
		r.Margin = right - best
		out[i] = r
	}
	return out, nil
}

// KnownShare is the share of results whose answer ranks first; 0 for none.
func KnownShare(rs []ProbeResult) float64 {
	if len(rs) == 0 {
		return 0
	}
	n := 0
	for _, r := range rs {
		if r.Known() {
			n++
		}
	}
	return float64(n) / float64(len(rs))
}

// fact is one attribute of one person, asked in the QA format the tasks use.
type fact struct {
	person world.Person
	attr   world.Attribute
}

func (f fact) value() string {
	v, _ := f.person.Value(f.attr)
	return v
}

// prompt asks for the fact in question wording 0, the wording every experiment here trains and tests.
func (f fact) prompt() string {
	q, _ := world.Question(f.person, f.attr, 0)
	return world.QAPrompt(q)
}

func (f fact) example() world.Example {
	v := f.value()
	return world.Example{Prompt: f.prompt(), Completion: " " + v, Answer: v}
}

// factsOf lists every attribute of every person, person by person.
func factsOf(people []world.Person) []fact {
	var out []fact
	for _, p := range people {
		for _, a := range world.Attributes() {
			out = append(out, fact{p, a})
		}
	}
	return out
}

func examplesOf(fs []fact) []world.Example {
	out := make([]world.Example, len(fs))
	for i, f := range fs {
		out[i] = f.example()
	}
	return out
}

// pairsOf turns examples into fine-tuning pairs.
func pairsOf(ex []world.Example) []weights.Pair {
	out := make([]weights.Pair, len(ex))
	for i, e := range ex {
		out[i] = weights.Pair{Prompt: e.Prompt, Completion: e.Completion}
	}
	return out
}

// valuePool gathers the distinct values of every attribute among people, sorted, for drawing distractors.
func valuePool(people []world.Person) map[world.Attribute][]string {
	pool := map[world.Attribute][]string{}
	for _, a := range world.Attributes() {
		seen := map[string]bool{}
		for _, p := range people {
			v, _ := p.Value(a)
			if !seen[v] {
				seen[v] = true
				pool[a] = append(pool[a], v)
			}
		}
		slices.Sort(pool[a])
	}
	return pool
}

// probeItems builds one probe item per fact with k distractors drawn by rng from the other values of the
// fact's attribute in pool.
func probeItems(fs []fact, pool map[world.Attribute][]string, k int, rng *rand.Rand) ([]ProbeItem, error) {
	items := make([]ProbeItem, len(fs))
	for i, f := range fs {
		v := f.value()
		var others []string
		for _, u := range pool[f.attr] {
			if u != v {
				others = append(others, u)
			}
		}
		if len(others) < k {
			return nil, fmt.Errorf("probe: attribute %s has %d other values, %d distractors wanted", f.attr, len(others), k)
		}
		rng.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
		items[i] = ProbeItem{Prompt: f.prompt(), Answer: v, Distractors: slices.Clone(others[:k])}
	}
	return items, nil
}

// answers greedily answers every example's prompt with adapter a (nil: the base model) and reports which
// answers are right: the first line of the output is the example's answer (pretrain.Correct).
func answers(ctx context.Context, m *weights.Model, ex []world.Example, a *llama.Adapter) ([]bool, error) {
	out := make([]bool, len(ex))
	for i, e := range ex {
		if e.Answer == "" {
			return nil, fmt.Errorf("answers: example %d (%q) has no answer to check", i, e.Prompt)
		}
		ids := m.Tokenizer.Encode(e.Prompt, true)
		n := min(16, m.Config.ContextLength-len(ids))
		if n <= 0 {
			return nil, fmt.Errorf("answers: prompt %d (%d tokens) fills the context", i, len(ids))
		}
		gen, err := m.Generate(ctx, ids, n, llama.Sampler{}, a)
		if err != nil {
			return nil, err
		}
		out[i] = pretrain.Correct(m.Tokenizer.Decode(gen), e.Answer)
	}
	return out, nil
}

func share(ok []bool) float64 {
	if len(ok) == 0 {
		return 0
	}
	n := 0
	for _, b := range ok {
		if b {
			n++
		}
	}
	return float64(n) / float64(len(ok))
}
