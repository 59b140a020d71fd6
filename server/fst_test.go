package server_test

import (
	"context"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/fastslow"
)

// TestClientsSlowChannelFST: under the fst policy feedback through the server first becomes notes (the next
// answer is right with the notes in the served prompt), then a weight round trains on the served prompts;
// with the task's notes, lessons and demos then removed — the served prompt is the input alone — every Go
// client (the ollama CLI, langchaingo's ollama and openai clients, streamed and not) still gets the taught
// answers, from the adapted model. (The weight-only policy's slow channel is TestClientsSlowChannel.)
func TestClientsSlowChannelFST(t *testing.T) {
	if raceEnabled {
		t.Skip("trains a weight round, slow under -race; the plain test run covers it")
	}
	const token = "sk-fastslow-test"
	l, _, base, tokened := serveOllama(t, token,
		fastslow.WithFlush(fastslow.FlushPolicy{}),
		fastslow.WithOptions(func(o *fastslow.Options) { o.Slow.Seed = 1 }))
	clients := realClients(t, base, tokened, token)
	ctx := context.Background()
	taught := facts[1:4] // answers the base model gets wrong
	wrong := 0
	for i, f := range taught {
		c := clients[i%len(clients)]
		first, id := c.ask(t, "fastslow/people", f.Question)
		if id == "" {
			t.Fatalf("%s: answer %q came without an id", c.name, first)
		}
		if !correct(first, f.Answer) {
			wrong++
		}
		sendFeedbackAs(t, c.base, c.token, id, 0, f.Answer)
		p, err := l.Prompt(ctx, "people", f.Question)
		if err != nil || p == f.Question || !strings.Contains(p, f.Answer) {
			t.Fatalf("after feedback the served prompt is %q (%v), want the fact's note in it", p, err)
		}
		if again, _ := c.ask(t, "people", f.Question); !correct(again, f.Answer) {
			t.Errorf("%s after feedback (notes): %q, want %q", c.name, again, f.Answer)
		}
	}
	if wrong == 0 {
		t.Fatal("the base model already knew every fact: nothing to teach")
	}
	r, err := l.Flush(ctx, "people")
	if err != nil || r.Weights.Steps == 0 || !r.Weights.Promoted {
		t.Fatalf("fst weight round: %v, %+v", err, r.Weights)
	}
	if err := l.Store().RemoveTask(ctx, "people"); err != nil {
		t.Fatal(err)
	}
	for _, f := range taught {
		if p, err := l.Prompt(ctx, "people", f.Question); err != nil || p != f.Question {
			t.Fatalf("with the notes removed the served prompt is %q (%v), want the input alone", p, err)
		}
		for _, c := range clients {
			if out, _ := c.ask(t, "fastslow/people", f.Question); !correct(out, f.Answer) {
				t.Errorf("%s with the notes removed, after an fst round of %d steps (%s): %q, want %q",
					c.name, r.Weights.Steps, l.Slow().Handle(), out, f.Answer)
			}
		}
	}
	t.Logf("fst round: %d steps on %d examples, served %s; %d of %d first answers wrong",
		r.Weights.Steps, len(taught), l.Slow().Handle(), wrong, len(taught))
}
