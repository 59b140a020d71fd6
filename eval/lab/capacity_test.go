package lab

import (
	"context"
	"slices"
	"testing"

	"github.com/fastslow/fastslow/eval/world"
)

func TestFactPeople(t *testing.T) {
	w, err := world.New(world.Options{Seed: 4, Known: 10, Newcomers: 5})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := factPeople(w, 12)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 12 {
		t.Fatalf("%d people, want 12", len(ps))
	}
	seen := map[string]bool{}
	for _, p := range w.Known {
		seen[p.Name()] = true
	}
	for i, p := range ps {
		if seen[p.Name()] {
			t.Errorf("person %d (%s) is known or repeated", i, p.Name())
		}
		seen[p.Name()] = true
	}
	if !slices.Equal(ps[:5], w.Newcomers) {
		t.Error("the new people do not come first")
	}
}

func TestCapacityOptions(t *testing.T) {
	m := tinyModel(t, 3)
	small := world.Options{Seed: 1, Known: 10, Newcomers: 5}
	rejects(t, Capacity, map[string]CapacityOptions{
		"no model":       {},
		"unknown mode":   {Base: m, World: small, Modes: []string{"dream"}},
		"zero facts":     {Base: m, World: small, Sizes: []int{0, 4}},
		"bad note form":  {Base: m, World: small, NoteForm: "poem"},
		"negative seeds": {Base: m, World: small, Seeds: -2},
	})
}

// TestCapacityReport runs every mode on a tiny model, checks that full fine-tuning hands the base back, that
// notes are retrieved, and that the report plots the runs' recall.
func TestCapacityReport(t *testing.T) {
	ctx := context.Background()
	m := tinyModel(t, 5)
	w := world.Options{Seed: 2, Known: 12, Newcomers: 5}
	ww, err := world.New(w)
	if err != nil {
		t.Fatal(err)
	}
	unchanged := baseUnchanged(t, m)
	res, err := Capacity(ctx, CapacityOptions{Base: m, World: w, Seeds: 2, Sizes: []int{14, 3}, Epochs: 2, LoRALR: 1e-2, FullLR: 3e-3,
		General: 5, Prose: []string{world.Biography(ww.Known[0], 0)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Runs) != 2*2*3 || !slices.Equal(res.Sizes, []int{3, 14}) {
		t.Fatalf("%d runs over sizes %v, want 12 over [3 14]", len(res.Runs), res.Sizes)
	}
	unchanged(t)
	for _, run := range res.Runs {
		switch run.Mode {
		case ModeNotes:
			if run.Params != 0 || run.Steps != 0 || run.Retrieval == 0 || run.General != res.GeneralBefore || run.GeneralKnown != res.KnownBefore || run.PPL != res.PPLBefore {
				t.Errorf("notes run %+v: weights should be untouched and notes retrieved", run)
			}
		default:
			if run.Params == 0 || run.Steps != (2*run.N+7)/8 {
				t.Errorf("%s run %+v", run.Mode, run)
			}
		}
	}
	doc := writtenReport(ctx, t, res, "capacity")
	lines := linePlot(t, doc, "capacity-recall", 3)
	var sum float64
	for _, run := range res.Runs {
		if run.Mode == ModeLoRA && run.N == 14 {
			sum += run.Recall
		}
	}
	if got := lines.Series[0].Y[1]; !near(got, sum/2) {
		t.Errorf("plotted LoRA recall at 14 facts %v, runs give %v", got, sum/2)
	}
}
