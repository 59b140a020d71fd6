package models

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/eval/pretrain"
	"github.com/fastslow/fastslow/eval/world"
	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/weights/llama"
)

// TestDefaultOnOllama serves the embedded model with Ollama and checks that its greedy answers to
// pretraining-fact and in-context questions are the in-process engine's, so the accuracies measured
// in Go hold for the served model.
func TestDefaultOnOllama(t *testing.T) {
	c := ollamatest.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	m, path := writeDefault(t)
	// Round where llama.cpp rounds (F16 matrix inputs, F16 KV cache), for bit-level agreement.
	m.Precision = llama.Precision{KVCacheF16: true, F16Weights: true}
	name := ollamatest.UniqueName(t, "fastslow-default")
	if err := c.CreateFromGGUF(ctx, name, path, ollama.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	w, err := world.New(pretrain.DefaultRecipe().World.Options())
	if err != nil {
		t.Fatal(err)
	}
	type probe struct{ prompt, answer string }
	var probes []probe
	for _, task := range []string{world.TaskQA, world.TaskCloze} {
		tk, err := w.Task(task)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range append(tk.Train[:7], tk.Test[:7]...) {
			probes = append(probes, probe{e.Prompt, e.Answer})
		}
	}
	for i, p := range w.Newcomers[:2] {
		for _, a := range world.Attributes() {
			s, err := pretrain.FactSentence(p, a, i)
			if err != nil {
				t.Fatal(err)
			}
			q, _ := world.Question(p, a, 0)
			v, _ := p.Value(a)
			probes = append(probes, probe{s + "\n" + world.QAPrompt(q), v})
		}
	}
	const maxTokens = 12
	agree, right := 0, 0
	for _, p := range probes {
		ours, err := pretrain.Answer(ctx, m, p.prompt, maxTokens)
		if err != nil {
			t.Fatal(err)
		}
		g, err := c.Generate(ctx, name, p.prompt, ollama.GenerateOptions{Raw: true, NumPredict: maxTokens})
		if err != nil {
			t.Fatal(err)
		}
		if firstLine(g.Text) == firstLine(ours) {
			agree++
		} else {
			t.Errorf("%q: Ollama says %q, the engine %q", p.prompt, g.Text, ours)
		}
		if pretrain.Correct(g.Text, p.answer) {
			right++
		}
	}
	t.Logf("%d of %d greedy answers agree; Ollama answered %d correctly", agree, len(probes), right)
	if right < len(probes)/2 {
		t.Errorf("Ollama answered only %d of %d probes correctly", right, len(probes))
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
