package fastslow

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastslow/fastslow/weights/llama"
)

// TestSlowChannelRollbackDuringRound: a rollback asked for while a round is running (held mid-way in its
// AfterChunk hook) does not wait for the round. It serves the version asked for at once, and the round,
// trained from the version served before, is discarded when it ends: nothing promoted, no file or model left,
// the rollback still served. The next round trains from the rolled-back version.
func TestSlowChannelRollbackDuringRound(t *testing.T) {
	ctx := context.Background()
	m, _ := tinyBase(t)
	dir := t.TempDir()
	srv := NewEngineServer(m)
	s := openSlow(t, m, dir, "rb", srv)
	opt := slowOpts(func(o *SlowOptions) { o.Steps = 4; o.Chunk = 2; o.Budget = -1; o.Seed = 1 })
	if r, err := s.Train(ctx, "a", capitals[:2], nil, opt, nil); err != nil || !r.Promoted {
		t.Fatalf("round 1: %+v, %v", r, err)
	}

	inRound, release := make(chan struct{}), make(chan struct{})
	held := opt
	held.AfterChunk = func(ctx context.Context, _ *llama.Adapter, done int) error {
		if done == 2 {
			close(inRound)
			<-release
		}
		return nil
	}
	type result struct {
		r   SlowRound
		err error
	}
	roundDone := make(chan result, 1)
	go func() {
		r, err := s.Train(ctx, "b", capitals[2:], nil, held, nil)
		roundDone <- result{r, err}
	}()
	<-inRound

	rolled := make(chan error, 1)
	go func() { rolled <- s.Rollback(ctx, 0) }()
	select {
	case err := <-rolled:
		if err != nil {
			t.Fatalf("rollback during a round: %v", err)
		}
	case <-time.After(2 * time.Minute): // a hang detector: the round stays held until the rollback returns
		close(release)
		t.Fatal("the rollback waited for the running round")
	}
	if v, ok := s.Current(); ok || s.Adapter() != nil || s.Handle() != "" {
		t.Fatalf("after the rollback to the base version %d is served", v.Seq)
	}
	close(release)
	res := <-roundDone
	if res.err != nil {
		t.Fatal(res.err)
	}
	if res.r.Promoted || !strings.Contains(res.r.Reason, "rolled back to the base model while the round ran") {
		t.Fatalf("the round that began before the rollback: %+v", res.r)
	}
	if v, ok := s.Current(); ok || len(s.Versions()) != 1 {
		t.Fatalf("after the discarded round: current %d, %d versions; want the base and 1", v.Seq, len(s.Versions()))
	}
	if _, err := os.Stat(filepath.Join(dir, "adapter-0002.gguf")); !os.IsNotExist(err) {
		t.Fatalf("the discarded round left its adapter file: %v", err)
	}
	again, err := OpenSlowChannel(ctx, m, dir, "rb", NewEngineServer(m))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := again.Current(); ok {
		t.Fatalf("reopened: version %d served, want the base (the rollback is on disk)", v.Seq)
	}

	// The next round trains from the base (a fresh adapter and optimizer) and is promoted as version 2.
	r, err := s.Train(ctx, "b", capitals[2:], nil, opt, nil)
	if err != nil || !r.Promoted || r.Version.Seq != 2 || s.moments == nil || s.moments.Step != opt.Steps {
		t.Fatalf("round after the rollback: %+v, %v", r, err)
	}
}
