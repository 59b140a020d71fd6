package lab

import (
	"context"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/fastslow/fastslow/eval/world"
)

func TestVisitOrder(t *testing.T) {
	if got, want := visitOrder(3, 2, OrderCyclic, nil), []int{0, 1, 2, 0, 1, 2}; !slices.Equal(got, want) {
		t.Errorf("cyclic order %v, want %v", got, want)
	}
	got := visitOrder(4, 3, OrderShuffled, rand.New(rand.NewPCG(1, 1)))
	for e := range 3 {
		epoch := slices.Clone(got[e*4 : e*4+4])
		slices.Sort(epoch)
		if !slices.Equal(epoch, []int{0, 1, 2, 3}) {
			t.Errorf("shuffled epoch %d is not a permutation: %v", e, got[e*4:e*4+4])
		}
	}
}

func TestGapsAndAnticipation(t *testing.T) {
	tests := []struct {
		name   string
		visits []int
		want   []gap
	}{
		// Two documents, one step each, three epochs: only the gap before each third visit counts.
		{"cyclic", []int{0, 1, 0, 1, 0, 1}, []gap{{doc: 0, end: 3, next: 4}, {doc: 1, end: 4, next: 5}}},
		// Two steps per visit: the visit's second step is not a new visit.
		{"two steps", []int{0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1}, []gap{{doc: 0, end: 6, next: 8}, {doc: 1, end: 8, next: 10}}},
		// A document trained last in one epoch and first in the next is one long visit.
		{"merged visits", []int{0, 1, 1, 0, 0, 1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := gaps(tt.visits, 2); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("gaps = %+v, want %+v", got, tt.want)
			}
		})
	}
	// Document 0 is visited at steps 1, 5 and 9 of a 4-document cycle; its loss rises after each visit and
	// falls before the next one by a known amount.
	visits := []int{0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3}
	loss := make([][]float64, len(visits)+1)
	for i := range loss {
		loss[i] = make([]float64, 4)
	}
	// The gap before doc 0's third visit runs from row 5 (after its second visit) to row 8; halfway is row 6.
	loss[6][0], loss[8][0] = 2.0, 1.5
	got, n := anticipation(visits, loss, 4)
	// Four gaps (one per document); only document 0's shows a fall, of 0.5.
	if n != 4 || !near(got, 0.5/4) {
		t.Errorf("anticipation = %v over %d gaps, want %v over 4", got, n, 0.5/4)
	}
}

func TestCyclicOptions(t *testing.T) {
	m := tinyModel(t, 3)
	rejects(t, Cyclic, map[string]CyclicOptions{
		"no model":       {},
		"two epochs":     {Base: m, Epochs: 2},
		"unknown mode":   {Base: m, Mode: "adapter"},
		"too many docs":  {Base: m, Docs: 50, World: world.Options{Seed: 1, Known: 10, Newcomers: 5}},
		"one document":   {Base: m, Docs: 1},
		"negative seeds": {Base: m, Seeds: -1},
		"gaps too short": {Base: m, Docs: 2, StepsPerDoc: 1},
	})
}

// TestCyclicReport runs a small experiment in both modes and checks the loss matrix, that full fine-tuning
// hands the base back unchanged, and the report's numbers against the runs.
func TestCyclicReport(t *testing.T) {
	ctx := context.Background()
	m := tinyModel(t, 5)
	unchanged := baseUnchanged(t, m)
	for _, mode := range []string{ModeFull, ModeLoRA} {
		t.Run(mode, func(t *testing.T) {
			if testing.Short() && mode == ModeLoRA {
				t.Skip("one mode is enough in short mode")
			}
			res, err := Cyclic(ctx, CyclicOptions{Base: m, World: world.Options{Seed: 2, Known: 10, Newcomers: 6},
				Seeds: 2, Docs: 3, Epochs: 3, StepsPerDoc: 2, Mode: mode, LR: 3e-3})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Runs) != 4 {
				t.Fatalf("%d runs, want 2 seeds x 2 orders", len(res.Runs))
			}
			for _, run := range res.Runs {
				if len(run.Visits) != 18 || len(run.Loss) != 19 || len(run.Loss[0]) != 3 {
					t.Fatalf("%s seed %d: %d visits, %d loss rows", run.Order, run.Seed, len(run.Visits), len(run.Loss))
				}
				// Training a document lowers its own loss.
				if d := run.Visits[0]; run.Loss[2][d] >= run.Loss[0][d] {
					t.Errorf("%s seed %d: doc %d loss %v → %v after its first visit", run.Order, run.Seed, d, run.Loss[0][d], run.Loss[2][d])
				}
			}
			unchanged(t)
			doc := writtenReport(ctx, t, res, "cyclic")
			h := doc.Plots["cyclic-loss-cyclic"].Heatmap
			if h == nil || len(h.Values) != 3 || len(h.Values[0]) != 10 {
				t.Fatalf("cyclic heatmap %+v", h)
			}
			var cyc []CyclicRun
			for _, run := range res.Runs {
				if run.Order == OrderCyclic {
					cyc = append(cyc, run)
				}
			}
			if want := (cyc[0].Loss[4][1] + cyc[1].Loss[4][1]) / 2; !near(h.Values[1][2], want) {
				t.Errorf("heatmap cell %v, runs give %v", h.Values[1][2], want)
			}
			if want := (cyc[0].Anticipation + cyc[1].Anticipation) / 2; !near(doc.Values["cyclic_anticipation"], want) {
				t.Errorf("cyclic anticipation %v, runs give %v", doc.Values["cyclic_anticipation"], want)
			}
		})
	}
}

// TestCyclicReportWithoutGaps builds the report of runs in which the shuffled order left no gap long enough
// (a document trained at the end of one epoch and the start of the next): the report must still validate.
func TestCyclicReportWithoutGaps(t *testing.T) {
	loss := func(n int) [][]float64 {
		out := make([][]float64, n+1)
		for i := range out {
			out[i] = []float64{1, 1}
		}
		return out
	}
	res := &CyclicResult{Docs: 2, Epochs: 3, StepsPerDoc: 1, Mode: ModeFull, LR: 1e-3, Runs: []CyclicRun{
		{Seed: 1, Order: OrderCyclic, Visits: []int{0, 1, 0, 1, 0, 1}, Loss: loss(6)},
		{Seed: 1, Order: OrderShuffled, Visits: []int{0, 1, 1, 0, 0, 1}, Loss: loss(6)},
	}}
	rep, err := res.Report("cyclic", "none")
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Validate(); err != nil {
		t.Fatal(err)
	}
	if v := rep.Verdicts[0].Verdict; v != "not measured: no gap between visits was long enough" {
		t.Errorf("verdict %q", v)
	}
}
