package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"

	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/server"
	"github.com/fastslow/fastslow/weights/llama"
)

// fact is a question in the embedded model's own format and its answer.
type fact struct{ question, answer string }

// facts are questions about people the embedded model knows, with their answers.
var facts = []fact{
	{"Q: Where was Asia Harwick born?\nA:", "Saldune"},
	{"Q: Where was Damira Thalstone born?\nA:", "Wystmere"},
	{"Q: Where was Jona Thalter born?\nA:", "Korrin"},
	{"Q: Where was Wymira Lemsby born?\nA:", "Quarnis"},
	{"Q: Where was Beren Dun born?\nA:", "Dunmeris"},
	{"Q: Where was Quinric Sorter born?\nA:", "Pellmarch"},
}

// TestServingDuringRound holds a background weight round in the middle of training (in the learner's Probe
// hook) and shows that answers and feedback through the server complete meanwhile. No timing is asserted:
// the round cannot end until the test releases it, after the answers arrived.
func TestServingDuringRound(t *testing.T) {
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	events := make(chan fastslow.Event, 100)
	l := openEngine(t,
		fastslow.WithPolicy(fastslow.PolicyWeights),
		fastslow.WithFlush(fastslow.FlushPolicy{After: 3}),
		fastslow.WithEvents(func(e fastslow.Event) {
			if e.Stage == "done" || e.Stage == "failed" {
				events <- e
			}
		}),
		fastslow.WithOptions(func(o *fastslow.Options) {
			o.Slow.Steps, o.Slow.Chunk, o.Slow.Seed = 6, 3, 1 // the claim is about waiting, not learning
			o.Probe = func(ctx context.Context, task string, a *llama.Adapter, steps int) error {
				if steps > 0 {
					once.Do(func() { close(held); <-release })
				}
				return nil
			}
		}))
	_, hs := newServer(t, server.Config{Learner: l})
	for _, f := range facts[:3] {
		_, id := generate(t, hs.URL, "fastslow/people", f.question)
		sendFeedback(t, hs.URL, id, 0, f.answer)
	}
	<-held // the round is in the middle of training and cannot go on
	for _, f := range facts {
		out, id := generate(t, hs.URL, "fastslow/people", f.question)
		if id == "" {
			t.Fatalf("answer %q has no id", out)
		}
		if r := sendFeedback(t, hs.URL, id, 1, ""); r.Record == 0 {
			t.Errorf("feedback during the round: no record id in %+v", r)
		}
	}
	if l.Slow().Handle() != "" {
		t.Error("an adapter was promoted while the round was held")
	}
	code, body := do(t, "GET", hs.URL+"/fastslow/answers?task=people&limit=2", "", nil)
	var listed struct{ Answers []server.Answer }
	if err := json.Unmarshal(body, &listed); code != http.StatusOK || err != nil || len(listed.Answers) != 2 || listed.Answers[0].Input != facts[len(facts)-1].question {
		t.Errorf("GET /fastslow/answers: %d %s, want the two newest answers", code, body)
	}
	close(release)
	if e := <-events; e.Stage != "done" {
		t.Fatalf("round: %s %v", e.Stage, e.Err)
	}
}
