package dashboard_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/server/dashboard"
	"github.com/fastslow/fastslow/weights/llama"
)

// TestAdapterRollbackDuringRound: an adapter rollback confirmed on the page while a weight round is held in the
// middle of training answers at once (303 to the adapters page) and serves the version asked for; the held
// round, trained from the version served before, then ends unpromoted and says why.
func TestAdapterRollbackDuringRound(t *testing.T) {
	ctx := context.Background()
	hold := make(chan struct{})
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	l, err := fastslow.Open(ctx, t.TempDir(), fastslow.WithPolicy(fastslow.PolicyWeights), fastslow.WithFlush(fastslow.FlushPolicy{}),
		fastslow.WithOptions(func(o *fastslow.Options) {
			o.Slow.Steps, o.Slow.Chunk, o.Slow.Seed = 4, 2, 1 // the claim is about waiting, not learning
			o.Probe = func(ctx context.Context, task string, a *llama.Adapter, steps int) error {
				select {
				case <-hold:
					if steps > 0 {
						once.Do(func() { close(held); <-release })
					}
				default:
				}
				return nil
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	teach := func(i int) {
		t.Helper()
		if _, err := l.Feedback(ctx, fastslow.Correction{Task: "people", Input: facts[i].Question, Output: " x", Score: 0, Answer: facts[i].Answer}); err != nil {
			t.Fatal(err)
		}
	}
	teach(0)
	if r, err := l.Flush(ctx, "people"); err != nil || !r.Weights.Promoted {
		t.Fatalf("first round: %v, %+v", err, r.Weights)
	}
	h, err := dashboard.New(dashboard.Options{Learner: l})
	if err != nil {
		t.Fatal(err)
	}
	page := serve(h, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:9/adapters", nil))
	tok := csrfOf(t, page.body)

	teach(1)
	close(hold)
	type flushed struct {
		r   fastslow.Round
		err error
	}
	done := make(chan flushed, 1)
	go func() {
		r, err := l.Flush(ctx, "people")
		done <- flushed{r, err}
	}()
	<-held
	answered := make(chan fetched, 1)
	go func() {
		answered <- serve(h, post("http://127.0.0.1:9/adapters/rollback",
			url.Values{"version": {"0"}, "confirm": {"yes"}, "csrf": {tok}}, map[string]string{"Origin": "http://127.0.0.1:9"}))
	}()
	select {
	case resp := <-answered:
		if resp.code != http.StatusSeeOther {
			t.Errorf("rollback during a round: %d %s", resp.code, resp.body)
		}
	case <-time.After(2 * time.Minute): // a hang detector: the round stays held until the rollback answered
		close(release)
		t.Fatal("the rollback page waited for the running round")
	}
	if v, ok := l.Slow().Current(); ok {
		t.Errorf("after the rollback to the base version %d is served", v.Seq)
	}
	close(release)
	f := <-done
	if f.err != nil {
		t.Fatal(f.err)
	}
	if f.r.Weights.Promoted || !strings.Contains(f.r.Weights.Reason, "rolled back") {
		t.Errorf("the held round after the rollback: %+v", f.r.Weights)
	}
	if v, ok := l.Slow().Current(); ok || len(l.Slow().Versions()) != 1 {
		t.Errorf("after the held round: version %d served, %d versions; want the base and 1", v.Seq, len(l.Slow().Versions()))
	}
}
