package prompts_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tmc/langchaingo/llms"
	lcollama "github.com/tmc/langchaingo/llms/ollama"

	adapters "github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/prompts"
	"github.com/fastslow/fastslow/weights/gguf"
)

// ollamaModel returns the name of a model on the Ollama server at
// OLLAMA_HOST: FASTSLOW_TEST_OLLAMA_MODEL if set, else a tiny random-weight
// llama written by our own GGUF writer and created on the server for this
// test. It skips when no server answers (fails in CI).
func ollamaModel(t *testing.T) (host, model string) {
	t.Helper()
	c := ollamatest.Client(t)
	if m := os.Getenv("FASTSLOW_TEST_OLLAMA_MODEL"); m != "" {
		return c.Host(), m
	}
	path := filepath.Join(t.TempDir(), "tiny.gguf")
	if _, _, err := tinymodel.Write(context.Background(), path, 5, 0.1, gguf.TypeF32); err != nil {
		t.Fatalf("write tiny model: %v", err)
	}
	name := ollamatest.UniqueName(t, "fastslow-prompts-")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := c.CreateFromGGUF(ctx, name, path, adapters.CreateOptions{}); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return c.Host(), name
}

// llmRunner serves rendered prompts through a langchaingo model and scores
// the answer by whether it contains the expected one.
type llmRunner struct {
	model llms.Model
	calls atomic.Int64
}

func (r *llmRunner) Run(ctx context.Context, p prompts.Rendered, in prompts.Instance) (prompts.Outcome, error) {
	r.calls.Add(1)
	out, err := llms.GenerateFromSinglePrompt(ctx, r.model, p.Prompt(in.Input),
		llms.WithTemperature(0), llms.WithMaxTokens(12))
	if err != nil {
		return prompts.Outcome{}, err
	}
	if strings.Contains(strings.ToLower(out), strings.ToLower(in.Answer)) {
		return prompts.Outcome{Output: out, Score: 1}, nil
	}
	return prompts.Outcome{Output: out, Feedback: "The answer is " + in.Answer + "."}, nil
}

// countingModel counts the calls the reflective proposer makes.
type countingModel struct {
	llms.Model
	calls atomic.Int64
}

func (m *countingModel) GenerateContent(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
	m.calls.Add(1)
	return m.Model.GenerateContent(ctx, msgs, opts...)
}

// lcEmbedder adapts langchaingo's Ollama client to prompts.Embedder.
type lcEmbedder struct{ llm *lcollama.LLM }

func (e lcEmbedder) Embed(ctx context.Context, text string) ([]float32, error) {
	vs, err := e.llm.CreateEmbedding(ctx, []string{text})
	if err != nil {
		return nil, err
	}
	if len(vs) != 1 {
		return nil, fmt.Errorf("%d embeddings for one text", len(vs))
	}
	return vs[0], nil
}

// countingEmbedder counts embedding calls.
type countingEmbedder struct {
	e     prompts.Embedder
	calls atomic.Int64
}

func (c *countingEmbedder) Embed(ctx context.Context, text string) ([]float32, error) {
	c.calls.Add(1)
	return c.e.Embed(ctx, text)
}

// TestOptimizerAgainstOllama runs the optimizer end to end against a real
// Ollama server: the runner and the reflective proposer both call the model
// through langchaingo, and retrieval ranks notes with the model's
// embeddings. A random-weight tiny model cannot be expected to improve, so
// the test checks the loop (every rollout a real call, counted once,
// checkpoints, gated history); with FASTSLOW_TEST_OLLAMA_MODEL naming a
// real model it also logs the score change.
func TestOptimizerAgainstOllama(t *testing.T) {
	host, model := ollamaModel(t)
	llm, err := lcollama.New(lcollama.WithModel(model), lcollama.WithServerURL(host),
		lcollama.WithRunnerNumThread(1), lcollama.WithRunnerNumCtx(256))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	s, err := prompts.Open(filepath.Join(t.TempDir(), "store"), &prompts.Options{Small: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CreateTask(ctx, prompts.Task{Name: "capitals"}); err != nil {
		t.Fatal(err)
	}
	var train, val []prompts.Instance
	for i, c := range [][2]string{{"Kenya", "Nairobi"}, {"Peru", "Lima"}, {"Japan", "Tokyo"}, {"Egypt", "Cairo"}} {
		train = append(train, prompts.Instance{ID: fmt.Sprint("t", i), Input: "Capital of " + c[0] + "?", Answer: c[1]})
		val = append(val, prompts.Instance{ID: fmt.Sprint("v", i), Input: "What is the capital of " + c[0] + "?", Answer: c[1]})
	}
	runner := &llmRunner{model: llm}
	reflector := &countingModel{Model: llm}
	o := &prompts.Optimizer{Store: s, Runner: runner, Proposers: []prompts.Proposer{
		prompts.Reflective{Model: reflector, Options: []llms.CallOption{llms.WithTemperature(0), llms.WithMaxTokens(64)}},
		prompts.FactNotes{},
	}}
	st, err := o.Start(ctx, prompts.RunConfig{Task: "capitals", Train: train, Val: val, Budget: 24, Minibatch: 2, Seed: 1,
		SeedSystem: "Answer with the name of the city.",
		Render: prompts.RenderOptions{Budget: prompts.Budget{MaxChars: 600},
			Embedder: lcEmbedder{llm}, EmbedderID: model}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != prompts.StatusDone || int64(st.Rollouts) != runner.calls.Load() {
		t.Fatalf("run %s: %d rollouts counted, %d model calls", st.Status, st.Rollouts, runner.calls.Load())
	}
	if reflector.calls.Load() == 0 && st.Iteration > 1 {
		its, _ := s.Iterations(ctx, "capitals", st.ID)
		t.Fatalf("the reflective proposer never called the model: %+v", its)
	}
	hist, err := s.History(ctx, "capitals")
	if err != nil || len(hist) == 0 {
		t.Fatalf("history: %v, %v", hist, err)
	}
	for _, v := range hist[1:] {
		if v.Evidence.Score < v.Evidence.Baseline {
			t.Fatalf("a promotion lowered the validation score: %+v", v.Evidence)
		}
	}
	// The embedding ranking through the model's embed endpoint: with it, a
	// query sharing no word with any note still ranks every note.
	if _, err := s.AddNotes(ctx, "capitals", []prompts.Note{{Text: "Nairobi lies in the highlands."},
		{Text: "Lima is on the Pacific coast."}, {Text: "Tokyo is a very large metropolis."}}); err != nil {
		t.Fatal(err)
	}
	emb := &countingEmbedder{e: lcEmbedder{llm}}
	ropts := prompts.RetrieveOptions{Notes: 2, Embedder: emb, EmbedderID: model}
	got, err := s.Retrieve(ctx, "capitals", "zzz qqq", ropts)
	if err != nil || len(got.Notes) != 2 {
		t.Fatalf("embedding retrieval: %+v, %v", got.Notes, err)
	}
	first := emb.calls.Load()
	if _, err := s.Retrieve(ctx, "capitals", "zzz qqq", ropts); err != nil || emb.calls.Load()-first != 1 {
		t.Fatalf("second retrieval made %d embed calls (%v); the note vectors should be cached", emb.calls.Load()-first, err)
	}
	r, err := s.Render(ctx, "capitals", val[0].Input, prompts.RenderOptions{Embedder: lcEmbedder{llm}, EmbedderID: model})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("model %s: %d rollouts, %d reflections, %d iterations, %d versions (validation %.2f -> %.2f); serving:\n%s",
		model, st.Rollouts, reflector.calls.Load(), st.Iteration, len(hist),
		hist[0].Evidence.Score, hist[len(hist)-1].Evidence.Score, r.Prompt(val[0].Input))
}
