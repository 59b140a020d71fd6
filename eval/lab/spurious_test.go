package lab

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/eval/world"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/train"
)

// TestFreezeLower checks that a frozen block's adapter parameters do not move while the others learn.
func TestFreezeLower(t *testing.T) {
	ctx := context.Background()
	m := tinyModel(t, 3)
	a, err := llama.NewAdapter(m.Model, weights.DefaultLoRA, 1)
	if err != nil {
		t.Fatal(err)
	}
	before := map[string][]float32{}
	for _, p := range a.Params() {
		before[p.Name] = slices.Clone(p.Data)
	}
	w, err := world.New(world.Options{Seed: 1, Known: 10, Newcomers: 5})
	if err != nil {
		t.Fatal(err)
	}
	ex := examplesOf(factsOf(w.Newcomers[:1]))
	if err := fit(ctx, m, freezeLower(train.LoRAObjective(m.Model, a), 1), pairsOf(ex), fitOptions(5, 4, 1e-2, 1), nil); err != nil {
		t.Fatal(err)
	}
	for _, p := range a.Params() {
		moved := !slices.Equal(before[p.Name], p.Data)
		if frozen := blockOf(p.Name) == 0; frozen == moved {
			t.Errorf("%s: frozen %v, moved %v", p.Name, frozen, moved)
		}
	}
}

func TestSpuriousOptions(t *testing.T) {
	m := tinyModel(t, 3)
	rejects(t, Spurious, map[string]SpuriousOptions{
		"no model":           {},
		"unknown task B":     {Base: m, TaskB: "poetry"},
		"unknown recovery":   {Base: m, Recovery: "sleep"},
		"freeze every block": {Base: m, Freeze: m.Config.Layers},
		"one person":         {Base: m, People: 1},
		"too few new people": {Base: m, World: world.Options{Seed: 1, Known: 10, Newcomers: 5}, People: 4},
	})
}

// TestSpuriousReport runs a small experiment end to end and checks the report's numbers against the runs.
func TestSpuriousReport(t *testing.T) {
	ctx := context.Background()
	m := tinyModel(t, 5)
	for _, recovery := range []string{RecoveryHalf, RecoveryKnown} {
		t.Run(recovery, func(t *testing.T) {
			if testing.Short() && recovery != RecoveryHalf {
				t.Skip("one recovery source is enough in short mode")
			}
			res, err := Spurious(ctx, SpuriousOptions{
				Base: m, World: world.Options{Seed: 2, Known: 20, Newcomers: 12}, Seeds: 2, People: 2,
				Recovery: recovery, RecoveryExamples: 4, RecoverySteps: 3, StepsA: 30, StepsB: 20, LR: 1e-2, Freeze: 1, Distractors: 3,
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Runs) != 4 {
				t.Fatalf("%d runs, want 2 seeds x 2 variants", len(res.Runs))
			}
			for _, r := range res.Runs {
				if len(r.Recovery) != 4 || r.Recovery[0] != r.AccAAfterB {
					t.Errorf("seed %d %s: recovery curve %v, want 4 points starting at %v", r.Seed, r.Variant, r.Recovery, r.AccAAfterB)
				}
				if r.StillKnown > r.Forgotten || r.RecoveredKnown+r.RecoveredGone > r.Forgotten {
					t.Errorf("seed %d %s: inconsistent counts %+v", r.Seed, r.Variant, r)
				}
				want := 14
				if recovery == RecoveryHalf {
					want = 7
				}
				if r.Measured != want {
					t.Errorf("measured %d facts, want %d", r.Measured, want)
				}
			}
			doc := writtenReport(ctx, t, res, "spurious")
			lines := linePlot(t, doc, "spurious-recovery", 2)
			var sum float64
			for _, r := range res.Runs {
				if r.Variant == "all" {
					sum += r.Recovery[3]
				}
			}
			if got := lines.Series[0].Y[3]; !near(got, sum/2) {
				t.Errorf("plotted final recovery %v, runs give %v", got, sum/2)
			}
			if len(doc.Verdicts) != 1 || doc.Verdicts[0].Verdict == "" {
				t.Errorf("verdicts %+v", doc.Verdicts)
			}
		})
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

// TestSpuriousKnownTaskA checks the default task A: facts of people known from pretraining, nothing trained,
// none of them named by task B or by the recovery data.
func TestSpuriousKnownTaskA(t *testing.T) {
	w, err := world.New(world.Options{Seed: 2, Known: 40, Newcomers: 12})
	if err != nil {
		t.Fatal(err)
	}
	for _, recovery := range []string{RecoveryNew, RecoveryKnown} {
		opt := SpuriousOptions{Base: tinyModel(t, 3), People: 2, RecoveryExamples: 4, Recovery: recovery}
		if err := opt.defaults(); err != nil {
			t.Fatal(err)
		}
		d, err := spuriousDraw(opt, w, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.trainA) != 0 || len(d.measured) != 14 {
			t.Fatalf("%s: %d task-A training examples (want 0), %d measured facts (want 14)", recovery, len(d.trainA), len(d.measured))
		}
		known := map[string]bool{}
		for _, p := range w.Known {
			known[p.Name()] = true
		}
		for _, f := range d.measured {
			if !known[f.person.Name()] {
				t.Errorf("%s: measured %s is not known from pretraining", recovery, f.person.Name())
			}
			for _, e := range append(append([]world.Example(nil), d.taskB...), d.recovery...) {
				if strings.Contains(e.Prompt, f.person.Name()) {
					t.Errorf("%s: task B or recovery names measured %s: %q", recovery, f.person.Name(), e.Prompt)
				}
			}
		}
	}
}
