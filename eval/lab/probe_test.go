package lab

import (
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/eval/world"
	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/train"
)

func TestProbeRanks(t *testing.T) {
	scores := map[string]float64{" Veltmor": -1, " Kessa": -2, " Orwen": -3, " Tie": -1, " High": -0.5}
	fake := func(prompt, completion string) (float64, error) {
		if prompt != "Q: Where?\nA:" {
			return 0, errors.New("wrong prompt")
		}
		s, ok := scores[completion]
		if !ok {
			return 0, errors.New("unknown completion " + completion)
		}
		return s, nil
	}
	tests := []struct {
		name        string
		distractors []string
		rank        int
		margin      float64
		known       bool
		err         bool
	}{
		{"answer first", []string{"Kessa", "Orwen"}, 0, 1, true, false},
		{"one above", []string{"Kessa", "High"}, 1, -0.5, false, false},
		{"a tie counts against", []string{"Tie", "Orwen"}, 1, 0, false, false},
		{"no distractors", nil, 0, 0, false, true},
		{"distractor is the answer", []string{"Veltmor"}, 0, 0, false, true},
		{"scorer fails", []string{"Unknown"}, 0, 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := Probe(context.Background(), fake, []ProbeItem{{Prompt: "Q: Where?\nA:", Answer: "Veltmor", Distractors: tt.distractors}})
			if tt.err {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r := rs[0]
			if r.Rank != tt.rank || r.Margin != tt.margin || r.Known() != tt.known || r.Candidates != 1+len(tt.distractors) {
				t.Errorf("got %+v (known %v), want rank %d margin %v known %v", r, r.Known(), tt.rank, tt.margin, tt.known)
			}
		})
	}
	if got := KnownShare([]ProbeResult{{Rank: 0}, {Rank: 2}, {Rank: 0}, {Rank: 1}}); got != 0.5 {
		t.Errorf("KnownShare = %v, want 0.5", got)
	}
	if got := KnownShare(nil); got != 0 {
		t.Errorf("KnownShare(nil) = %v", got)
	}
}

func TestBlockOf(t *testing.T) {
	for name, want := range map[string]int{
		"blk.0.attn_q.weight.lora_a": 0, "blk.12.ffn_down.weight": 12, "token_embd.weight": -1,
		"output_norm.weight": -1, "blk.x.attn_q.weight": -1, "blk.3": -1,
	} {
		if got := blockOf(name); got != want {
			t.Errorf("blockOf(%q) = %d, want %d", name, got, want)
		}
	}
}

// tinyModel writes and loads a tiny random model.
func tinyModel(t *testing.T, seed uint64) *weights.Model {
	t.Helper()
	path := filepath.Join(t.TempDir(), "base.gguf")
	if _, _, err := tinymodel.Write(context.Background(), path, seed, 0.05, gguf.TypeF32); err != nil {
		t.Fatal(err)
	}
	m, err := weights.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestProbeKnownAnswers trains facts into a tiny model, then takes one fact away in two ways with a known
// answer: overwriting it with another value (the knowledge is gone), or training a new answer format on the
// other facts, which changes what the model says for the fact but not what it knows. The probe must tell
// them apart.
func TestProbeKnownAnswers(t *testing.T) {
	ctx := context.Background()
	m := tinyModel(t, 7)
	restore := snapshotBase(m.Model)
	defer restore()
	w, err := world.New(world.Options{Seed: 3, Known: 20, Newcomers: 10})
	if err != nil {
		t.Fatal(err)
	}
	var fs []fact
	for _, p := range w.Newcomers[:4] {
		for _, a := range []world.Attribute{world.BirthCity, world.Employer} {
			fs = append(fs, fact{p, a})
		}
	}
	target := fs[0]
	items, err := probeItems([]fact{target}, valuePool(append(append([]world.Person(nil), w.Known...), w.Newcomers...)), 5, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	fullFit := func(ex []world.Example, steps int) {
		t.Helper()
		if err := fit(ctx, m, train.FullObjective(m.Model), pairsOf(ex), fitOptions(steps, 8, 3e-3, 1), nil); err != nil {
			t.Fatal(err)
		}
	}
	probe := func() ProbeResult {
		t.Helper()
		rs, err := Probe(ctx, ModelScorer(m, nil), items)
		if err != nil {
			t.Fatal(err)
		}
		return rs[0]
	}
	says := func() string {
		t.Helper()
		ids := m.Tokenizer.Encode(target.prompt(), true)
		out, err := m.Generate(ctx, ids, 16, llama.Sampler{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(m.Tokenizer.Decode(out))
	}

	fullFit(examplesOf(fs), 150)
	if got := says(); got != target.value() {
		t.Fatalf("after learning, the model says %q, want %q", got, target.value())
	}
	if r := probe(); !r.Known() {
		t.Fatalf("after learning, probe %+v: the fact should be known", r)
	}
	learned := snapshotBase(m.Model)

	// Overwrite: the fact now has another value.
	other := items[0].Distractors[0]
	fullFit([]world.Example{{Prompt: target.prompt(), Completion: " " + other, Answer: other}}, 40)
	if got := says(); got != other {
		t.Fatalf("after overwriting, the model says %q, want %q", got, other)
	}
	if r := probe(); r.Known() {
		t.Errorf("after overwriting, probe %+v says the fact is still known", r)
	} else {
		t.Logf("overwritten: %+v", r)
	}

	// Format: the other facts are now answered in brackets; the target fact is never trained again.
	learned()
	var format []world.Example
	for _, f := range fs[1:] {
		format = append(format, world.Example{Prompt: f.prompt(), Completion: " [" + f.value() + "]", Answer: "[" + f.value() + "]"})
	}
	fullFit(format, 60)
	if got, want := says(), "["+target.value()+"]"; got != want {
		t.Fatalf("after the format change, the model says %q, want %q", got, want)
	}
	if r := probe(); !r.Known() {
		t.Errorf("after the format change, probe %+v says the fact is gone", r)
	} else {
		t.Logf("format only: %+v", r)
	}
}
