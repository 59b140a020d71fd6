package fastslow

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
)

// tinyBase is tinyBaseOf with float32 matrices.
func tinyBase(t *testing.T) (*weights.Model, string) {
	t.Helper()
	return tinyBaseOf(t, gguf.TypeF32)
}

// tinyBaseOf writes the tiny base (seed 7) with matrices of type typ to a temporary file and loads it.
func tinyBaseOf(t *testing.T, typ gguf.Type) (*weights.Model, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "base.gguf")
	if _, _, err := tinymodel.Write(context.Background(), path, 7, 0.05, typ); err != nil {
		t.Fatal(err)
	}
	m, err := weights.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return m, path
}

// openSlow opens the slow channel name in dir on base m, served by srv.
func openSlow(t *testing.T, m *weights.Model, dir, name string, srv Server) *SlowChannel {
	t.Helper()
	s, err := OpenSlowChannel(context.Background(), m, dir, name, srv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var capitals = []weights.Pair{
	{Prompt: "Q: capital of Zorblia?\nA:", Completion: " Quessa"},
	{Prompt: "Q: capital of Marovia?\nA:", Completion: " Tovik"},
	{Prompt: "Q: capital of Brundor?\nA:", Completion: " Lidmar"},
	{Prompt: "Q: capital of Osmira?\nA:", Completion: " Pavel"},
}

// accuracy is a Retention over pairs with the in-process engine (on the model it is given, else m).
func accuracy(base *weights.Model, pairs []weights.Pair) Retention {
	return func(ctx context.Context, m *weights.Model, a *llama.Adapter) (float64, error) {
		if m == nil {
			m = base
		}
		right := 0
		for _, p := range pairs {
			ids, err := m.Generate(ctx, m.Tokenizer.Encode(p.Prompt, true), 8, llama.Sampler{}, a)
			if err != nil {
				return 0, err
			}
			if m.Tokenizer.Decode(ids) == p.Completion {
				right++
			}
		}
		return float64(right) / float64(len(pairs)), nil
	}
}

func TestSlowChannelRoundsAndRollback(t *testing.T) {
	if raceEnabled {
		t.Skip("trains for minutes under -race; the plain test run covers it")
	}
	ctx := context.Background()
	m, _ := tinyBase(t)
	dir := t.TempDir()
	srv := NewEngineServer(m)
	s := openSlow(t, m, dir, "test", srv)
	opt := slowOpts(func(o *SlowOptions) { o.Steps = 120; o.Chunk = 40; o.LR = 1e-2; o.Budget = -1; o.Seed = 1 })
	r1, err := s.Train(ctx, "a", capitals[:2], nil, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !r1.Promoted || r1.Version.Seq != 1 || r1.Steps != 120 {
		t.Fatalf("round 1: %+v", r1)
	}
	if acc, _ := accuracy(m, capitals[:2])(ctx, m, s.Adapter()); acc != 1 {
		t.Fatalf("after round 1 the adapter answers %.2f of its pairs, want 1", acc)
	}
	r2, err := s.Train(ctx, "b", capitals[2:], nil, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Version.Seq != 2 {
		t.Fatalf("round 2 made version %d", r2.Version.Seq)
	}
	out, err := srv.Generate(ctx, s.Handle(), capitals[2].Prompt, 8)
	if err != nil || out != capitals[2].Completion {
		t.Fatalf("served %q, %v; want %q", out, err, capitals[2].Completion)
	}

	// Reopen from disk: the current version and its weights come back.
	again, err := OpenSlowChannel(ctx, m, dir, "test", NewEngineServer(m))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := again.Current(); !ok || v.Seq != 2 || len(again.Versions()) != 2 {
		t.Fatalf("reopened at %+v with %d versions", v, len(again.Versions()))
	}
	if err := again.Rollback(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if acc, _ := accuracy(m, capitals[:2])(ctx, m, again.Adapter()); acc != 1 {
		t.Fatalf("version 1 after rollback answers %.2f of its pairs, want 1", acc)
	}
	if err := again.Rollback(ctx, 9); err == nil || !strings.Contains(err.Error(), "no adapter version 9") {
		t.Fatalf("rollback to a missing version: %v", err)
	}
	if err := again.Rollback(ctx, 0); err != nil || again.Adapter() != nil || again.Handle() != "" {
		t.Fatalf("rollback to the base: %v", err)
	}
}

func TestSlowChannelBudget(t *testing.T) {
	ctx := context.Background()
	m, _ := tinyBase(t)
	s, err := OpenSlowChannel(ctx, m, t.TempDir(), "budget", NewEngineServer(m))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Train(ctx, "a", capitals[:2], nil, slowOpts(func(o *SlowOptions) { o.Steps = 120; o.LR = 1e-2; o.Budget = -1; o.Seed = 1 }), nil); err != nil {
		t.Fatal(err)
	}
	// Retention on task a; overwrite a's answers with others: the budget of 0 must stop the round before any
	// chunk that loses a's answers is kept.
	conflict := []weights.Pair{
		{Prompt: capitals[0].Prompt, Completion: " Ambrel"},
		{Prompt: capitals[1].Prompt, Completion: " Orrin"},
	}
	before := snapshot(s.Adapter())
	r, err := s.Train(ctx, "b", conflict, accuracy(m, capitals[:2]), slowOpts(func(o *SlowOptions) { o.Steps = 120; o.Chunk = 40; o.LR = 1e-2; o.Budget = 0; o.Seed = 2 }), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Promoted || r.Steps != 0 || !strings.Contains(r.Reason, "over the budget") {
		t.Fatalf("a round that overwrites retained answers was kept: %+v", r)
	}
	after := snapshot(s.Adapter())
	for i := range before {
		for j := range before[i] {
			if before[i][j] != after[i][j] {
				t.Fatal("a rejected round changed the served adapter")
			}
		}
	}
	if v, _ := s.Current(); v.Seq != 1 {
		t.Fatalf("current version %d, want 1", v.Seq)
	}
}

// failingServer refuses every deployment.
type failingServer struct{ *EngineServer }

func (failingServer) Deploy(context.Context, string, string) (string, error) {
	return "", errors.New("server says no")
}

func TestSlowChannelDeployFailureLeavesNothing(t *testing.T) {
	ctx := context.Background()
	m, _ := tinyBase(t)
	dir := t.TempDir()
	s := openSlow(t, m, dir, "fail", failingServer{NewEngineServer(m)})
	_, err := s.Train(ctx, "a", capitals, nil, slowOpts(func(o *SlowOptions) { o.Steps = 5; o.Budget = -1 }), nil)
	if err == nil || !strings.Contains(err.Error(), "server says no") {
		t.Fatalf("error %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Fatalf("a failed deployment left %d files in %s", len(entries), dir)
	}
	if _, ok := s.Current(); ok {
		t.Fatal("a failed deployment was promoted")
	}
}

// slowOpts are the default slow options changed by set.
func slowOpts(set func(*SlowOptions)) SlowOptions {
	o := DefaultSlowOptions()
	set(&o)
	return o
}
