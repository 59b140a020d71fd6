package main

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ollamaapi "github.com/ollama/ollama/api"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/eval/world"
	"github.com/fastslow/fastslow/internal/ollamamod"
	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/tokenizer"
)

// ollamaJinja returns the reference Jinja chat template Ollama's template index lists under name.
func ollamaJinja(t *testing.T, name string) string {
	t.Helper()
	templates, err := ollamamod.Templates()
	if err != nil {
		t.Fatal(err)
	}
	tmpl, ok := templates[name]
	if !ok {
		t.Fatalf("no template %q in Ollama's index", name)
	}
	return tmpl
}

// chatFacts are 24 new facts as conversations: 16 of one question and answer, 4 of two, all after a system
// message. Each question is asked, in the tests, with the turns that precede it in its conversation.
func chatFacts() []world.Example {
	var out []world.Example
	fs := facts()
	sys := world.Message{Role: "system", Content: "Answer with the capital only."}
	for i := 0; i < 16; i++ {
		q := strings.TrimSuffix(strings.TrimPrefix(fs[i].Prompt, "Q: "), "\nA:")
		out = append(out, world.Example{Messages: []world.Message{sys, {Role: "user", Content: q}, {Role: "assistant", Content: fs[i].Answer}}})
	}
	for i := 16; i < 24; i += 2 {
		q1 := strings.TrimSuffix(strings.TrimPrefix(fs[i].Prompt, "Q: "), "\nA:")
		q2 := strings.TrimSuffix(strings.TrimPrefix(fs[i+1].Prompt, "Q: "), "\nA:")
		out = append(out, world.Example{Messages: []world.Message{sys,
			{Role: "user", Content: q1}, {Role: "assistant", Content: fs[i].Answer},
			{Role: "user", Content: q2}, {Role: "assistant", Content: fs[i+1].Answer}}})
	}
	return out
}

// chatQuestions are the /api/chat requests of the facts, each with the answer it must get.
func chatQuestions(ex []world.Example) (reqs [][]ollamaapi.Message, answers []string) {
	for _, e := range ex {
		for k, m := range e.Messages {
			if m.Role != "assistant" {
				continue
			}
			var req []ollamaapi.Message
			for _, p := range e.Messages[:k] {
				req = append(req, ollamaapi.Message{Role: p.Role, Content: p.Content})
			}
			reqs, answers = append(reqs, req), append(answers, m.Content)
		}
	}
	return reqs, answers
}

// chatAccuracy asks every question through /api/chat, greedily, and counts exact answers.
func chatAccuracy(t *testing.T, c *ollama.Client, model string, reqs [][]ollamaapi.Message, answers []string) float64 {
	t.Helper()
	right := 0
	for i, req := range reqs {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		g, err := c.Chat(ctx, model, req, ollama.GenerateOptions{NumPredict: 16})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(g.Text) == answers[i] {
			right++
		} else if i < 3 {
			t.Logf("%s: %q answered %q, want %q", model, req[len(req)-1].Content, g.Text, answers[i])
		}
	}
	return float64(right) / float64(len(reqs))
}

// chatBase creates in Ollama a tiny llama-3 style chat model that knows none of chatFacts: the real llama-3.2
// vocabulary, random weights, and llama-3's Jinja chat template in the GGUF, from which Ollama derives its
// llama3-instruct template. It returns the model's name, its tokenizer and the Jinja template.
func chatBase(ctx context.Context, t *testing.T, c *ollama.Client, dir string) (string, *tokenizer.BPE, string) {
	t.Helper()
	path := filepath.Join(dir, "chat.gguf")
	m, tok, err := tinymodel.NewFlavor(tinymodel.Llama32, 5, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	jinja := ollamaJinja(t, "llama3-instruct")
	if err := weights.Save(path, m, tok, weights.SaveOptions{Name: "tiny-llama3-chat", Type: gguf.TypeF16, ChatTemplate: jinja}); err != nil {
		t.Fatal(err)
	}
	base := ollamatest.UniqueName(t, "fastslow-chat-base")
	if err := c.CreateFromGGUF(ctx, base, path, ollama.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return base, tok, jinja
}

// TestChatClosedLoop: a llama-3 style chat model (the real llama-3.2 vocabulary, created in Ollama from a
// GGUF whose tokenizer.chat_template is llama-3's, so Ollama derives its llama3-instruct template) that
// does not know 24 facts learns them from chat data through `fastslow train --base <Ollama model>`
// (rendered with the template Ollama stores for the model), `fastslow deploy` adapts that model in Ollama,
// and /api/chat then answers them. On the way: our rendering tokenizes to exactly the prompt Ollama
// evaluates for /api/chat, and a finished train leaves no checkpoint.
func TestChatClosedLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model with a 128,256-token vocabulary for 600 steps")
	}
	c := ollamatest.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	dir := t.TempDir()
	base, tok, jinja := chatBase(ctx, t, c, dir)
	stored, err := c.ChatTemplate(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	derived, err := ollama.GGUFChatTemplate(jinja)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Source != derived.Source {
		t.Errorf("Ollama stored the template\n%q\nfor the GGUF; GGUFChatTemplate derives\n%q", stored.Source, derived.Source)
	}

	ex := chatFacts()
	data := filepath.Join(dir, "chat.jsonl")
	writeJSONL(t, data, ex)
	reqs, answers := chatQuestions(ex)

	// The rendering is Ollama's: the prompt it evaluates for /api/chat has as many tokens as ours.
	for _, req := range reqs[14:20] {
		text, err := stored.Render(req)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Unload(ctx, base); err != nil { // a cached prefix would count less
			t.Fatal(err)
		}
		g, err := c.Chat(ctx, base, req, ollama.GenerateOptions{NumPredict: 1})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(tok.Encode(text, true)); n != g.PromptEvalCount {
			t.Errorf("%d messages: our rendering is %d tokens, Ollama evaluated %d:\n%q", len(req), n, g.PromptEvalCount, text)
		}
	}

	if acc := chatAccuracy(t, c, base, reqs, answers); acc >= 0.1 {
		t.Fatalf("the base already answers %.0f%% of the facts; the test needs a model that does not know them", 100*acc)
	}
	env := []string{"OLLAMA_HOST=" + c.Host()}
	adapter := filepath.Join(dir, "chat-lora.gguf")
	stdout, stderr, code := runCLI(t, env, "train", "--base", base, "--data", data, "--out", adapter,
		"--steps", "600", "--batch", "8", "--lr", "1e-2", "--rank", "8", "--json")
	if code != 0 {
		t.Fatalf("train exited %d: %s", code, stderr)
	}
	t.Logf("train: %s", strings.TrimSpace(stdout))
	if _, err := os.Stat(adapter + ".ckpt"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the finished run left its checkpoint (stat: %v)", err)
	}
	name := ollamatest.UniqueName(t, "fastslow-chat")
	if _, stderr, code = runCLI(t, env, "deploy", "--base", base, "--adapter", adapter, "--name", name, "--json"); code != 0 {
		t.Fatalf("deploy exited %d: %s", code, stderr)
	}
	acc := chatAccuracy(t, c, name, reqs, answers)
	t.Logf("/api/chat with the deployed adapter answers %.0f%% of %d facts exactly", 100*acc, len(reqs))
	if acc < 0.9 {
		t.Fatalf("/api/chat answers %.0f%% of the facts after train+deploy, want at least 90%%", 100*acc)
	}
}

// TestChatBadInput: a chat line with an unknown role, without an assistant turn, or that the model's
// template fails to render is one error naming the file and line; chat data on a GGUF whose chat template
// Ollama does not recognize is refused with the reason.
func TestChatBadInput(t *testing.T) {
	dir := t.TempDir()
	base := tinyBase(t, dir, 3, gguf.TypeF32)
	file := func(name string, lines ...string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := `{"messages":[{"role":"system","content":"S"},{"role":"user","content":"Q"},{"role":"assistant","content":"A"}]}`
	out := filepath.Join(dir, "out.gguf")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown role", []string{"train", "--base", base, "--out", out, "--data",
			file("role.jsonl", good, `{"messages":[{"role":"robot","content":"Q"},{"role":"assistant","content":"A"}]}`)},
			`role.jsonl:2: messages[0]: unknown role "robot"`},
		{"no assistant turn", []string{"train", "--base", base, "--out", out, "--data",
			file("noanswer.jsonl", good, good, `{"messages":[{"role":"system","content":"S"},{"role":"user","content":"Q"}]}`)},
			"noanswer.jsonl:3: messages: last message must be from the assistant"},
		{"no template Ollama knows", []string{"train", "--base", base, "--out", out, "--data", file("chat.jsonl", good)},
			"chat.jsonl has chat examples: model " + base + ": no chat template Ollama recognizes: the GGUF has no tokenizer.chat_template"},
		{"lab data", []string{"lab", "--model", base, "--data", file("labrole.jsonl", `{"messages":[{"role":"user","content":"Q"},{"role":"bot","content":"A"}],"task":"t"}`)},
			`labrole.jsonl:1: messages[1]: unknown role "bot"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, nil, tt.args...)
			if code == 0 || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want a failure with %q", code, stderr, tt.want)
			}
			if n := strings.Count(strings.TrimSpace(stderr), "\n"); n > 0 {
				t.Errorf("want one message, got %d lines: %s", n+1, stderr)
			}
		})
	}

	// A template that parses but fails on the data, as Ollama would fail on it at /api/chat.
	c := ollamatest.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	name := ollamatest.UniqueName(t, "fastslow-badtemplate")
	bad := `{{ range .Messages }}{{ if eq .Role "assistant" }}{{ index .Content 3 }}{{ end }}{{ .Content }}{{ end }}`
	if err := c.CreateFromGGUF(ctx, name, base, ollama.CreateOptions{Template: bad}); err != nil {
		t.Fatal(err)
	}
	long := `{"messages":[{"role":"user","content":"Q"},{"role":"assistant","content":"a long answer"}]}`
	short := `{"messages":[{"role":"user","content":"Q"},{"role":"assistant","content":"A"}]}`
	_, stderr, code := runCLI(t, []string{"OLLAMA_HOST=" + c.Host()}, "train", "--base", name, "--out", out, "--data", file("render.jsonl", long, short))
	if code == 0 || !strings.Contains(stderr, "render.jsonl:2: ") || !strings.Contains(stderr, "index out of range") {
		t.Fatalf("exit %d, stderr %q; want a failure naming render.jsonl:2 and the template's error", code, stderr)
	}
}

// TestChatTrainGGUF: without Ollama, chat data on a GGUF file trains with the template Ollama derives from
// the file's tokenizer.chat_template (here llama-3's), and the finished run leaves no checkpoint.
func TestChatTrainGGUF(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a tiny model")
	}
	dir := t.TempDir()
	m, tok, err := tinymodel.New(context.Background(), 4, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "chat.gguf")
	if err := weights.Save(base, m, tok, weights.SaveOptions{ChatTemplate: ollamaJinja(t, "llama3-instruct")}); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "chat.jsonl")
	writeJSONL(t, data, chatFacts()[:3])
	out := filepath.Join(dir, "a.gguf")
	// No server: the template comes from the file.
	stdout, stderr, code := runCLI(t, []string{"OLLAMA_HOST=" + ollamatest.ClosedAddr(t)}, "train", "--base", base, "--data", data, "--out", out, "--steps", "3", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var sum struct{ Steps, Tokens int }
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil || sum.Steps != 3 || sum.Tokens == 0 {
		t.Fatalf("summary %q (%v)", stdout, err)
	}
	if _, err := os.Stat(out + ".ckpt"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the finished run left its checkpoint (stat: %v)", err)
	}
}

// TestChatLearn: `fastslow learn` with chat data on an Ollama chat model (policy weights) serves an adapted
// model made FROM that model, so /api/chat renders with the template the data was rendered with, and it
// answers the facts it trained on (learn keeps every fifth example for validation).
func TestChatLearn(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model with a 128,256-token vocabulary for 600 steps")
	}
	c := ollamatest.Client(t)
	// CI time: the learner's path through the server is the same on every version, and TestChatClosedLoop
	// covers /api/chat on the older one.
	ollamatest.RequireVersion(t, "0.17.0", "TestChatClosedLoop covers chat data on older servers")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	dir := t.TempDir()
	base, _, _ := chatBase(ctx, t, c, dir)
	ex := chatFacts()
	data := filepath.Join(dir, "chat.jsonl")
	writeJSONL(t, data, ex)
	// learn makes one example of each answer, in order, and keeps every fifth for validation.
	allReqs, allAnswers := chatQuestions(ex)
	var reqs [][]ollamaapi.Message
	var answers []string
	for i := range allReqs {
		if i%5 != 4 {
			reqs, answers = append(reqs, allReqs[i]), append(answers, allAnswers[i])
		}
	}
	stdout, stderr, code := runCLI(t, []string{"OLLAMA_HOST=" + c.Host()}, "learn", "--task", "capitals", "--data", data,
		"--model", base, "--policy", "weights", "--steps", "600", "--batch", "8", "--lr", "1e-2", "--rank", "8", "--json")
	if code != 0 {
		t.Fatalf("learn exited %d: %s", code, stderr)
	}
	var sum LearnSummary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("learn output %q: %v", stdout, err)
	}
	if sum.Model == "" {
		t.Fatalf("learn served no adapted model: %s", stdout)
	}
	ollamatest.DeleteOnCleanup(t, sum.Model)
	show, err := c.ChatTemplate(ctx, sum.Model)
	if err != nil {
		t.Fatal(err)
	}
	if want, err := c.ChatTemplate(ctx, base); err != nil || show.Source != want.Source {
		t.Fatalf("the learner's model has the template %q, want the base's (%v)", show.Source, err)
	}
	acc := chatAccuracy(t, c, sum.Model, reqs, answers)
	t.Logf("learn: %d weight steps; /api/chat on %s answers %.0f%% of the %d trained facts (validation %.2f)", sum.WeightSteps, sum.Model, 100*acc, len(reqs), sum.Accuracy)
	if acc < 0.9 {
		t.Fatalf("/api/chat answers %.0f%% of the trained facts after learn, want at least 90%%", 100*acc)
	}
}
