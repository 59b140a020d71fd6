package server_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/internal/learnertest"
	"github.com/fastslow/fastslow/server"
)

// fact is a question in the embedded model's own format and its answer.
type fact = learnertest.Fact

// facts are questions in the embedded model's own format, with their answers.
var facts = learnertest.Facts

// TestServingDuringRound holds a background weight round in the middle of training (in the learner's Probe
// hook) and shows that answers and feedback through the server complete meanwhile. No timing is asserted:
// the round cannot end until the test releases it, after the answers arrived.
func TestServingDuringRound(t *testing.T) {
	hold := learnertest.NewHold()
	opts, events := learnertest.WeightRounds(3, func(o *fastslow.Options) {
		o.Slow.Steps, o.Slow.Chunk, o.Slow.Seed = 6, 3, 1 // the claim is about waiting, not learning
		o.Probe = hold.Probe
	})
	l := openEngine(t, opts...)
	t.Cleanup(hold.Release) // a failing test must not leave the round held when the learner closes
	_, hs := newServer(t, server.Config{Learner: l})
	for _, f := range facts[:3] {
		_, id := generate(t, hs.URL, "fastslow/people", f.Question)
		sendFeedback(t, hs.URL, id, 0, f.Answer)
	}
	<-hold.Held // the round is in the middle of training and cannot go on
	for _, f := range facts {
		out, id := generate(t, hs.URL, "fastslow/people", f.Question)
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
	if err := json.Unmarshal(body, &listed); code != http.StatusOK || err != nil || len(listed.Answers) != 2 || listed.Answers[0].Input != facts[len(facts)-1].Question {
		t.Errorf("GET /fastslow/answers: %d %s, want the two newest answers", code, body)
	}
	hold.Release()
	if e := <-events; e.Stage != "done" {
		t.Fatalf("round: %s %v", e.Stage, e.Err)
	}
}
