package lab

import (
	"fmt"
	"math"

	"github.com/fastslow/fastslow/eval/metrics"
	"github.com/fastslow/fastslow/eval/report"
)

// orderStats are one order's numbers across seeds.
type orderStats struct {
	anticipation, rise, final metrics.Summary
	gaps                      int
}

func (r *CyclicResult) stats(order string) orderStats {
	var ant, rise, final []float64
	var st orderStats
	for _, run := range r.Runs {
		if run.Order != order {
			continue
		}
		if run.Gaps > 0 { // a shuffled order may leave no gap long enough
			ant = append(ant, run.Anticipation)
		}
		final = append(final, mean(run.Loss[len(run.Loss)-1]))
		st.gaps += run.Gaps
		// rise: how far a document's loss climbs from the end of its visit to the start of its next one,
		// over the same gaps as the anticipation: the forgetting the recovery would reverse.
		var s float64
		n := 0
		for _, g := range gaps(run.Visits, r.Docs) {
			if g.next-g.end >= 2 {
				peak := math.Inf(-1)
				for t := g.end; t <= g.next; t++ {
					peak = max(peak, run.Loss[t][g.doc])
				}
				s += peak - run.Loss[g.end][g.doc]
				n++
			}
		}
		if n > 0 {
			rise = append(rise, s/float64(n))
		}
	}
	st.anticipation, st.rise, st.final = summarize(ant), summarize(rise), summarize(final)
	return st
}

// paired returns the per-seed differences cyclic − shuffled of the anticipation.
func (r *CyclicResult) paired() metrics.Summary {
	return summarize(r.pairedDiffs())
}

// pairedDiffs are the per-seed differences cyclic − shuffled of the anticipation.
func (r *CyclicResult) pairedDiffs() []float64 {
	bySeed := map[int]map[string]float64{}
	for _, run := range r.Runs {
		if run.Gaps == 0 {
			continue
		}
		if bySeed[run.Seed] == nil {
			bySeed[run.Seed] = map[string]float64{}
		}
		bySeed[run.Seed][run.Order] = run.Anticipation
	}
	var d []float64
	for _, run := range r.Runs {
		o, ok := bySeed[run.Seed]
		if !ok || run.Order != OrderCyclic {
			continue
		}
		c, ok1 := o[OrderCyclic]
		s, ok2 := o[OrderShuffled]
		if ok1 && ok2 {
			d = append(d, c-s)
		}
	}
	return d
}

// beforeNext is a run's mean loss of a document x steps before its next visit minus its loss just before that
// visit, for x = 0..span, over the gaps (from the second visit on) at least x steps long. ok[x] is false where
// no gap is that long.
func (r *CyclicResult) beforeNext(run CyclicRun, span int) (ys []float64, ok []bool) {
	ys, ok = make([]float64, span+1), make([]bool, span+1)
	counts := make([]int, span+1)
	for _, g := range gaps(run.Visits, r.Docs) {
		for x := 0; x <= span && x <= g.next-g.end; x++ {
			ys[x] += run.Loss[g.next-x][g.doc] - run.Loss[g.next][g.doc]
			counts[x]++
		}
	}
	for x := range ys {
		if counts[x] > 0 {
			ys[x] /= float64(counts[x])
			ok[x] = true
		}
	}
	return ys, ok
}

// lossMap is the loss matrix after every visit (rows: documents, columns: visits), averaged over the runs.
func (r *CyclicResult) lossMap(runs []CyclicRun) *report.Heatmap {
	h := &report.Heatmap{Format: "%.1f", Cols: []string{"start"}}
	for d := range r.Docs {
		h.Rows = append(h.Rows, fmt.Sprintf("doc %d", d+1))
	}
	base := runs[0]
	for v := 0; v*r.StepsPerDoc < len(base.Visits); v++ {
		h.Cols = append(h.Cols, fmt.Sprintf("d%d", base.Visits[v*r.StepsPerDoc]+1))
	}
	h.Values = make([][]float64, r.Docs)
	for d := range h.Values {
		h.Values[d] = make([]float64, len(h.Cols))
		for c := range h.Cols {
			var s float64
			for _, run := range runs {
				s += run.Loss[c*r.StepsPerDoc][d]
			}
			h.Values[d][c] = s / float64(len(runs))
		}
	}
	return h
}

// Sections returns the experiment's report sections and its verdict row.
func (r *CyclicResult) Sections() ([]report.Section, []report.Verdict, error) {
	var cyc, shuf []CyclicRun
	for _, run := range r.Runs {
		if run.Order == OrderCyclic {
			cyc = append(cyc, run)
		} else {
			shuf = append(shuf, run)
		}
	}
	if len(cyc) == 0 || len(shuf) == 0 {
		return nil, nil, fmt.Errorf("cyclic: need runs of both orders")
	}
	sc, ss, diff := r.stats(OrderCyclic), r.stats(OrderShuffled), r.paired()
	tbl := report.Table{Header: []string{"order", "anticipatory recovery (nats/token)", "gaps", "loss rise within a gap", "final mean loss"}}
	for _, o := range []struct {
		name string
		st   orderStats
	}{{OrderCyclic, sc}, {OrderShuffled, ss}} {
		tbl.Rows = append(tbl.Rows, []string{o.name, pm(o.st.anticipation), fmt.Sprint(o.st.gaps), pm0(o.st.rise), pm0(o.st.final)})
	}
	tbl.Rows = append(tbl.Rows, []string{"cyclic − shuffled (paired by seed)", pm(diff), "", "", ""})

	span := (r.Docs - 1) * r.StepsPerDoc
	var xs []float64
	var keep []int
	series := map[string][][]float64{}
	okAll := make([]bool, span+1)
	for x := range okAll {
		okAll[x] = true
	}
	curves := map[string][][]float64{}
	for _, run := range r.Runs {
		ys, ok := r.beforeNext(run, span)
		for x := range ok {
			okAll[x] = okAll[x] && ok[x]
		}
		curves[run.Order] = append(curves[run.Order], ys)
	}
	for x := span; x >= 0; x-- {
		if okAll[x] {
			xs = append(xs, -float64(x))
			keep = append(keep, x)
		}
	}
	lines := &report.Lines{Band: true}
	for _, order := range []string{OrderCyclic, OrderShuffled} {
		if len(xs) == 0 {
			break
		}
		for _, ys := range curves[order] {
			row := make([]float64, len(keep))
			for i, x := range keep {
				row[i] = ys[x]
			}
			series[order] = append(series[order], row)
		}
		s, err := report.SeriesFromRuns(order, xs, series[order])
		if err != nil {
			return nil, nil, fmt.Errorf("cyclic: %w", err)
		}
		lines.Series = append(lines.Series, s)
	}
	seeds := len(cyc)
	what := "full fine-tuning"
	if r.Mode == ModeLoRA {
		what = "LoRA"
	}
	plots := []report.Plot{
		{ID: "cyclic-loss-cyclic", Title: what + ": loss per document, cyclic order (mean over seeds)", XLabel: "after visiting document", YLabel: "document",
			Heatmap: r.lossMap(cyc), Caption: "Each column is the loss after one visit; the column label is the document just trained."},
		{ID: "cyclic-loss-shuffled", Title: what + ": loss per document, shuffled order (seed 1)", XLabel: "after visiting document", YLabel: "document",
			Heatmap: r.lossMap(shuf[:1])},
	}
	if len(xs) > 0 { // every run has a gap that long
		plots = append(plots, report.Plot{ID: "cyclic-before-revisit", Title: what + ": loss in the steps before a document comes round again",
			XLabel: "steps before the next visit", YLabel: "loss − loss just before the visit (nats/token)", Lines: lines,
			Caption: "Above zero: the loss was higher earlier in the gap and fell towards the visit (anticipatory recovery)."})
	}
	mode := "full fine-tuning"
	if r.Mode == ModeLoRA {
		mode = "a LoRA adapter"
	}
	sec := report.Section{
		Title: "Anticipatory recovery under cyclic training",
		Text: fmt.Sprintf("After Yang et al., *Reawakening knowledge: Anticipatory recovery from catastrophic interference via structured training* "+
			"(NeurIPS 2024). %d documents (biographies of new people, never in pretraining) are trained in a fixed cyclic order for %d epochs, "+
			"%d gradient steps on each document at each visit (%s, learning rate %g, in the in-process engine), and the loss on every document "+
			"is measured after every step. The baseline trains the same documents in a fresh random order every epoch. %d seeds; mean ± 95%% interval.\n\n"+
			"Anticipatory recovery is measured, for every gap between two visits of a document from its second visit on, as the document's loss "+
			"halfway through the gap minus its loss just before it is trained again: positive when the loss falls before the document comes "+
			"round. A general downward drift of every loss counts in both orders; the cyclic − shuffled difference is the part due to the "+
			"cyclic structure. The loss rise within a gap is the forgetting the recovery would undo.",
			r.Docs, r.Epochs, r.StepsPerDoc, mode, r.LR, seeds),
		Tables: []report.Table{tbl},
		Plots:  plots,
		Values: map[string]float64{
			"cyclic_anticipation": nan0(sc.anticipation.Mean), "shuffled_anticipation": nan0(ss.anticipation.Mean),
			"anticipation_difference": nan0(diff.Mean), "cyclic_rise": nan0(sc.rise.Mean), "shuffled_rise": nan0(ss.rise.Mean),
		},
		Data: map[string]any{"runs": r.Runs},
	}
	// Yes or no only when the bootstrap interval of the paired difference excludes zero.
	verdict := metrics.Inconclusive
	if sc.anticipation.N == 0 {
		verdict = "not measured: no gap between visits was long enough"
	} else if iv, err := metrics.BootstrapMean(r.pairedDiffs(), 1); err == nil {
		verdict = metrics.Decide(iv)
		sec.Values["anticipation_difference_paired"] = iv.Estimate
		if iv.Bounded {
			sec.Values["anticipation_difference_paired_lo"], sec.Values["anticipation_difference_paired_hi"] = iv.Lo, iv.Hi
		}
	}
	v := report.Verdict{
		Question: "Anticipatory recovery: does a document's loss fall before it comes round again under cyclic training?",
		Verdict:  verdict,
		Evidence: fmt.Sprintf("loss fall over the second half of a gap %+.3f nats/token (cyclic) vs %+.3f (shuffled); difference %s over %d seeds; "+
			"the loss rose %.3f within a gap (the forgetting to undo); %s, %d documents × %d epochs × %d steps",
			sc.anticipation.Mean, ss.anticipation.Mean, pm(diff), diff.N, nan0(sc.rise.Mean), mode, r.Docs, r.Epochs, r.StepsPerDoc),
	}
	return []report.Section{sec}, []report.Verdict{v}, nil
}

// Report builds the experiment's report on its own.
func (r *CyclicResult) Report(title, model string) (*report.Report, error) {
	secs, verdicts, err := r.Sections()
	return engineReport(title, model, r.Seconds, secs, verdicts, err)
}
