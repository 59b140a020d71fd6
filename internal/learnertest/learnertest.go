// Package learnertest holds what the tests of the packages above the core share about a fastslow.Learner on
// the embedded default model: questions about six people, the options of a learner whose
// background weight rounds end on a channel, and a hook that holds such a round in the middle of training.
// It is for tests only.
package learnertest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/weights/llama"
)

// Fact is a question in the wording the embedded default model was pretrained on, and its answer.
type Fact struct {
	Question, Answer string
}

// Facts are questions about six people (the same six as the fastslow package's Example), in the wording the
// embedded default model was pretrained on, with their answers: the tests teach them to a learner and ask
// again.
var Facts = []Fact{
	{"Q: Where was Asia Harwick born?\nA:", "Saldune"},
	{"Q: Where was Damira Thalstone born?\nA:", "Wystmere"},
	{"Q: Where was Jona Thalter born?\nA:", "Korrin"},
	{"Q: Where was Wymira Lemsby born?\nA:", "Quarnis"},
	{"Q: Where was Beren Dun born?\nA:", "Dunmeris"},
	{"Q: Where was Quinric Sorter born?\nA:", "Pellmarch"},
}

// WeightRounds returns the options of a learner under the weight-only policy whose background weight round
// starts after every `after` corrections (set, if not nil, changes the options last), and the channel that
// receives each round's last event (stage "done" or "failed"; it holds 100 before a send waits).
func WeightRounds(after int, set func(*fastslow.Options)) ([]fastslow.Option, <-chan fastslow.Event) {
	ends := make(chan fastslow.Event, 100)
	opts := []fastslow.Option{
		fastslow.WithPolicy(fastslow.PolicyWeights),
		fastslow.WithFlush(fastslow.FlushPolicy{After: after}),
		fastslow.WithEvents(func(e fastslow.Event) {
			if e.Stage == "done" || e.Stage == "failed" {
				ends <- e
			}
		}),
	}
	if set != nil {
		opts = append(opts, fastslow.WithOptions(set))
	}
	return opts, ends
}

// WaitPromoted waits up to `within` for a round's last event on ends and fails the test unless that round
// ended "done" with a promoted weight version.
func WaitPromoted(t testing.TB, ends <-chan fastslow.Event, within time.Duration) {
	t.Helper()
	select {
	case e := <-ends:
		if e.Stage != "done" || e.Round == nil || !e.Round.Weights.Promoted {
			t.Fatalf("background round: %s %v %+v", e.Stage, e.Err, e.Round)
		}
	case <-time.After(within):
		t.Fatalf("no background round within %v", within)
	}
}

// Hold stops the first weight round that trains a step, inside training, until Release: set its Probe as
// fastslow.Options.Probe. Held is closed once that round is stopped.
type Hold struct {
	Held    chan struct{}
	release chan struct{}
	hold    sync.Once
	free    sync.Once
}

// NewHold returns a Hold that has stopped nothing yet.
func NewHold() *Hold {
	return &Hold{Held: make(chan struct{}), release: make(chan struct{})}
}

// Probe is a fastslow.Options.Probe: after the first training step of a round (steps > 0) it closes Held and
// waits for Release, once; every other call returns at once.
func (h *Hold) Probe(_ context.Context, _ string, _ *llama.Adapter, steps int) error {
	if steps > 0 {
		h.hold.Do(func() { close(h.Held); <-h.release })
	}
	return nil
}

// Release lets the held round go on (and any later one through). It may be called more than once.
func (h *Hold) Release() {
	h.free.Do(func() { close(h.release) })
}
