package pretrain

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fastslow/fastslow/eval/world"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/llama"
)

// Score is the greedy exact-match accuracy of one group of questions.
type Score struct {
	// Group is the people asked about: "train", "validation" or "test" (the known people's groups
	// of world tasks) or "newcomers" (people absent from pretraining).
	Group string `json:"group"`
	// Format is "qa" (question and answer) or "cloze" (fill in the blank).
	Format string `json:"format"`
	// Context, for in-context questions, is what precedes the question: "sentence" (the biography
	// sentence stating the fact) or "biography" (a whole biography).
	Context string `json:"context,omitempty"`
	// InMix reports whether these very questions were in the pretraining mix.
	InMix   bool `json:"in_mix"`
	Correct int  `json:"correct"`
	Total   int  `json:"total"`
	// Accuracy is Correct/Total.
	Accuracy float64 `json:"accuracy"`
	// Baseline is the accuracy of always answering the most common value of the asked attribute
	// among the known people: what a model gets that learnt the answer distribution but no facts.
	Baseline float64 `json:"baseline"`
}

// Evaluation measures what a pretrained model knows.
type Evaluation struct {
	// Facts are questions about known people, answered from memory.
	Facts []Score `json:"facts"`
	// InContext are questions about newcomers whose fact is given in the prompt.
	InContext []Score `json:"in_context"`
	// Perplexity is exp of the mean negative log-likelihood per token of the held-out prose, over
	// PerplexityTokens tokens (0 when the recipe holds no prose out).
	Perplexity       float64 `json:"held_out_perplexity"`
	PerplexityTokens int     `json:"held_out_tokens"`
	Seconds          float64 `json:"seconds"`
}

// Score returns the score of group and format (and context, for in-context scores), or false.
func (e Evaluation) Score(group, format, context string) (Score, bool) {
	for _, s := range append(append([]Score(nil), e.Facts...), e.InContext...) {
		if s.Group == group && s.Format == format && s.Context == context {
			return s, true
		}
	}
	return Score{}, false
}

// EvalOptions bound an evaluation.
type EvalOptions struct {
	// Limit, if positive, evaluates at most this many questions per score (the first ones, in the
	// world's order).
	Limit int
	// NoPerplexity skips the held-out prose.
	NoPerplexity bool
}

// question is one exact-match probe.
type question struct {
	prompt, answer, baseline string
}

// Evaluate measures m on the world of r: (a) greedy exact match on the world's question-answer and
// fill-in-the-blank examples about known people, per split, telling which were in the pretraining mix;
// (b) the same with the fact given in the prompt, about newcomers the model never saw; (c) the
// perplexity of the held-out prose.
//
// An answer is correct when the generated text, up to the first newline and without its leading
// space, is the answer, or starts with it followed by a character that is not a letter or digit
// (a fill-in-the-blank prompt may go on with the rest of the sentence).
func Evaluate(ctx context.Context, m *weights.Model, r Recipe, opt EvalOptions) (Evaluation, error) {
	start := time.Now()
	w, err := world.New(r.World.Options())
	if err != nil {
		return Evaluation{}, fmt.Errorf("pretrain: evaluate: %w", err)
	}
	guess := majorityAnswers(w.Known)
	attrOf := map[string]world.Attribute{} // prompt → attribute, for the baseline
	for _, p := range w.Known {
		for _, a := range world.Attributes() {
			for _, qa := range []bool{true, false} {
				prompt, _, err := factPrompt(p, a, qa, 0)
				if err != nil {
					return Evaluation{}, err
				}
				attrOf[prompt] = a
			}
		}
	}
	inMix := map[string]bool{}
	for _, t := range r.Mix.FactTasks {
		inMix[t] = r.Mix.FactRepeats > 0
	}
	var ev Evaluation
	for _, format := range []string{world.TaskQA, world.TaskCloze} {
		t, err := w.Task(format)
		if err != nil {
			return Evaluation{}, fmt.Errorf("pretrain: evaluate: %w", err)
		}
		for _, g := range []struct {
			name string
			ex   []world.Example
		}{{"train", t.Train}, {"validation", t.Validation}, {"test", t.Test}} {
			qs := make([]question, 0, len(g.ex))
			for _, e := range limit(g.ex, opt.Limit) {
				a, ok := attrOf[e.Prompt]
				if !ok {
					return Evaluation{}, fmt.Errorf("pretrain: evaluate: world task %s asks %q, which is not a question about a known person", format, e.Prompt)
				}
				qs = append(qs, question{prompt: e.Prompt, answer: e.Answer, baseline: guess[a]})
			}
			s, err := score(ctx, m, qs)
			if err != nil {
				return Evaluation{}, err
			}
			s.Group, s.Format, s.InMix = g.name, format, g.name == "train" && inMix[format]
			ev.Facts = append(ev.Facts, s)
		}
	}
	for _, context := range []string{"sentence", "biography"} {
		for _, format := range []string{world.TaskQA, world.TaskCloze} {
			var qs []question
			for i, p := range w.Newcomers {
				for _, a := range world.Attributes() {
					c := world.Biography(p, i)
					if context == "sentence" {
						if c, err = FactSentence(p, a, i); err != nil {
							return Evaluation{}, err
						}
					}
					prompt, _, err := factPrompt(p, a, format == world.TaskQA, 0)
					if err != nil {
						return Evaluation{}, err
					}
					v, _ := p.Value(a)
					qs = append(qs, question{prompt: c + "\n" + prompt, answer: v, baseline: guess[a]})
				}
			}
			s, err := score(ctx, m, limit(qs, opt.Limit))
			if err != nil {
				return Evaluation{}, err
			}
			s.Group, s.Format, s.Context = "newcomers", format, context
			ev.InContext = append(ev.InContext, s)
		}
	}
	if !opt.NoPerplexity && r.Corpus.HeldOutChars > 0 {
		c, err := w.Corpus(ctx, world.CorpusOptions{BioVariants: 1, HeldOutChars: r.Corpus.HeldOutChars, ProsePath: r.Corpus.ProsePath})
		if err != nil {
			return Evaluation{}, fmt.Errorf("pretrain: evaluate: %w", err)
		}
		if ev.Perplexity, ev.PerplexityTokens, err = perplexity(ctx, m, c.HeldOut); err != nil {
			return Evaluation{}, err
		}
	}
	ev.Seconds = time.Since(start).Seconds()
	return ev, nil
}

func limit[T any](s []T, n int) []T {
	if n > 0 && len(s) > n {
		return s[:n]
	}
	return s
}

// majorityAnswers returns the most common value of each attribute among people (ties to the value
// that sorts first).
func majorityAnswers(people []world.Person) map[world.Attribute]string {
	out := map[world.Attribute]string{}
	for _, a := range world.Attributes() {
		count := map[string]int{}
		for _, p := range people {
			v, _ := p.Value(a)
			count[v]++
		}
		best := ""
		for v, n := range count {
			if n > count[best] || n == count[best] && v < best {
				best = v
			}
		}
		out[a] = best
	}
	return out
}

// score answers qs greedily, in parallel, and counts the exact matches.
func score(ctx context.Context, m *weights.Model, qs []question) (Score, error) {
	correct := make([]bool, len(qs))
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	next := make(chan int)
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out, err := Answer(ctx, m, qs[i].prompt, len(m.Tokenizer.Encode(" "+qs[i].answer, false))+2)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					continue
				}
				correct[i] = Correct(out, qs[i].answer)
			}
		}()
	}
	for i := range qs {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Score{}, fmt.Errorf("pretrain: evaluate: %w", err)
	}
	if first != nil {
		return Score{}, fmt.Errorf("pretrain: evaluate: %w", first)
	}
	s := Score{Total: len(qs)}
	base := 0
	for i, q := range qs {
		if correct[i] {
			s.Correct++
		}
		if q.baseline == q.answer {
			base++
		}
	}
	if s.Total > 0 {
		s.Accuracy = float64(s.Correct) / float64(s.Total)
		s.Baseline = float64(base) / float64(s.Total)
	}
	return s, nil
}

// Answer greedily continues prompt (encoded with BOS) by at most maxTokens tokens, stopping at the
// end-of-sequence token, and returns the text.
func Answer(ctx context.Context, m *weights.Model, prompt string, maxTokens int) (string, error) {
	ids := m.Tokenizer.Encode(prompt, true)
	maxTokens = min(maxTokens, m.Config.ContextLength-len(ids))
	if maxTokens <= 0 {
		return "", fmt.Errorf("prompt of %d tokens leaves no room in a context of %d", len(ids), m.Config.ContextLength)
	}
	out, err := m.Generate(ctx, ids, maxTokens, llama.Sampler{}, nil)
	if err != nil {
		return "", err
	}
	return m.Tokenizer.Decode(out), nil
}

// Correct reports whether a generated continuation gives answer: its first line, without the
// leading space, is answer or starts with answer followed by a character other than a letter or
// digit.
func Correct(output, answer string) bool {
	line, _, _ := strings.Cut(output, "\n")
	line = strings.TrimPrefix(line, " ")
	if answer == "" || !strings.HasPrefix(line, answer) {
		return false
	}
	return !wordByte(line, len(answer))
}

// perplexity scores passages in windows of the model's context (each window starts with BOS).
func perplexity(ctx context.Context, m *weights.Model, passages []string) (float64, int, error) {
	if len(passages) == 0 {
		return 0, 0, errors.New("pretrain: evaluate: no held-out prose")
	}
	win := m.Config.ContextLength - 1
	bos := []int32{m.Tokenizer.BOS()}
	var nll float64
	n := 0
	for _, p := range passages {
		ids := m.Tokenizer.Encode(p, false)
		for chunk := range slices.Chunk(ids, win) {
			if err := ctx.Err(); err != nil {
				return 0, 0, fmt.Errorf("pretrain: evaluate: %w", err)
			}
			ll, k, err := m.LogLikelihood(bos, chunk, nil)
			if err != nil {
				return 0, 0, fmt.Errorf("pretrain: evaluate: perplexity: %w", err)
			}
			nll -= ll
			n += k
		}
	}
	return math.Exp(nll / float64(n)), n, nil
}
