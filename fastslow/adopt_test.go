package fastslow

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/peft"
)

// trainedElsewhere trains an adapter on pairs in a channel of its own, exports it as a PEFT directory and
// imports it back, as an adapter trained with PEFT arrives.
func trainedElsewhere(t *testing.T, s *SlowChannel, task string, n int) *llama.Adapter {
	t.Helper()
	ctx := context.Background()
	m := s.base
	other, err := OpenSlowChannel(ctx, m, t.TempDir(), "elsewhere", NewEngineServer(m))
	if err != nil {
		t.Fatal(err)
	}
	pairs := capitals[:2]
	if n > 0 {
		pairs = capitals[2:]
	}
	opt := slowOpts(func(o *SlowOptions) { o.Steps = 120; o.LR = 1e-2; o.Budget = -1; o.Seed = 1 })
	if _, err := other.Train(ctx, task, pairs, nil, opt, nil); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "peft")
	if err := peft.Save(dir, other.Adapter(), m.Model, peft.SaveOptions{BaseModel: "tiny"}); err != nil {
		t.Fatal(err)
	}
	a, _, err := peft.Import(dir, m.Model)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestAdopt adopts an adapter trained elsewhere (through a PEFT directory): it is deployed and versioned, and
// survives a reopen bit for bit; an adapter that forgets what the served one knows is refused by the budget,
// and one that scores lower on the task's validation examples by the gate, with nothing written or deployed.
func TestAdopt(t *testing.T) {
	ctx := context.Background()
	m, _ := tinyBase(t)
	dir := t.TempDir()
	srv := NewEngineServer(m)
	s := openSlow(t, m, dir, "adopt", srv)
	first := trainedElsewhere(t, s, "a", 0)
	r, err := s.Adopt(ctx, Adoption{Task: "a", Note: "peft import", Adapter: first,
		Retention: accuracy(m, capitals[:2]), Budget: 0.05, Validation: accuracy(m, capitals[:2])})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Promoted || r.Version.Seq != 1 || r.Version.Note != "peft import" || r.Version.After != 1 {
		t.Fatalf("first adoption: %+v", r)
	}
	if got, _ := srv.Generate(ctx, r.Version.Handle, capitals[0].Prompt, 8); got != capitals[0].Completion {
		t.Fatalf("the deployed adoption answers %q, want %q", got, capitals[0].Completion)
	}

	second := trainedElsewhere(t, s, "b", 2) // knows capitals[2:], not capitals[:2]
	files := func() []string {
		names, _ := filepath.Glob(filepath.Join(dir, "adapter-*"))
		return names
	}
	for _, tc := range []struct {
		name string
		in   Adoption
		want string
	}{
		{"budget", Adoption{Task: "b", Adapter: second, Retention: accuracy(m, capitals[:2]), Budget: 0.05}, "over the budget"},
		{"gate", Adoption{Task: "a", Adapter: second, Budget: -1, Validation: accuracy(m, capitals[:2])}, "below the served state's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := s.Adopt(ctx, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if r.Promoted || !strings.Contains(r.Reason, tc.want) {
				t.Fatalf("round %+v, want refused with %q", r, tc.want)
			}
			if v, _ := s.Current(); v.Seq != 1 || len(s.Versions()) != 1 || len(files()) != 1 {
				t.Fatalf("after a refusal: current %d, %d versions, files %v", v.Seq, len(s.Versions()), files())
			}
		})
	}

	again, err := OpenSlowChannel(ctx, m, dir, "adopt", srv)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := again.Current()
	if !ok || v.Seq != 1 || v.Note != "peft import" {
		t.Fatalf("reopened: %+v", v)
	}
	got, err := again.VersionAdapter(1)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range first.Params() {
		q := got.Params()[i]
		for j := range p.Data {
			if math.Float32bits(p.Data[j]) != math.Float32bits(q.Data[j]) {
				t.Fatalf("%s[%d] changed on the way through the channel", p.Name, j)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, v.Path)); err != nil {
		t.Fatal(err)
	}
}
