package fastslow_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/fastslow/fastslow/eval/world"
	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/models"
	"github.com/fastslow/fastslow/weights"
)

// TestLLMFeedbackChangesWhatOllamaServes: an agent asks the embedded default model, served by a real Ollama
// through the langchaingo wrapper, about people it never met; it answers wrong. The agent gives feedback with the
// right answers, and the same questions, asked again, come back right: the facts now travel in the prompt.
func TestLLMFeedbackChangesWhatOllamaServes(t *testing.T) {
	c := ollamatest.Client(t)
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "default.gguf")
	if err := models.WriteDefault(path); err != nil {
		t.Fatal(err)
	}
	m, err := weights.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	// The base model is named after its content and shared with anything else serving the default model at
	// the same time (the lab, other tests), so it stays.
	srv := fastslow.NewOllamaServer(c, path, ollamatest.UniqueName(t, "fastslow-llm")+"-")
	l, err := fastslow.NewLearner(ctx, filepath.Join(dir, "state"), opts(fastslow.PolicyPrompts, m, srv))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var model llms.Model = fastslow.NewLLM(l, "newcomers")

	// Questions about newcomers, who were kept out of pretraining.
	w, err := world.New(world.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	type qa struct{ q, a string }
	var questions []qa
	for _, p := range w.Newcomers[:4] {
		for _, a := range []world.Attribute{world.BirthCity, world.Employer} {
			q, err := world.Question(p, a, 0)
			if err != nil {
				t.Fatal(err)
			}
			v, _ := p.Value(a)
			questions = append(questions, qa{world.QAPrompt(q), v})
		}
	}
	ask := func() (right int) {
		for _, x := range questions {
			out, err := llms.GenerateFromSinglePrompt(ctx, model, x.q, llms.WithMaxTokens(12))
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(out) == x.a {
				right++
			}
		}
		return right
	}
	before := ask()
	for _, x := range questions {
		if _, err := model.(*fastslow.LLM).Feedback(ctx, fastslow.Correction{Input: x.q, Critique: "wrong", Answer: x.a}); err != nil {
			t.Fatal(err)
		}
	}
	after := ask()
	t.Logf("Ollama answered %d of %d before feedback, %d after", before, len(questions), after)
	if before > len(questions)/2 {
		t.Fatalf("the model already knows %d of %d newcomer facts; the test needs unknown ones", before, len(questions))
	}
	if after < len(questions)*3/4 || after-before < len(questions)/2 {
		t.Fatalf("after feedback Ollama answers %d of %d (before %d), want at least %d and a gain of %d", after, len(questions), before, len(questions)*3/4, len(questions)/2)
	}
}

// opts are the default options with policy p, base m and server srv.
func opts(p fastslow.Policy, m *weights.Model, srv fastslow.Server) fastslow.Options {
	o := fastslow.DefaultOptions()
	o.Policy, o.Base, o.Server = p, m, srv
	return o
}
