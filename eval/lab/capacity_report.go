package lab

import (
	"fmt"
	"strings"

	"github.com/fastslow/fastslow/eval/metrics"
	"github.com/fastslow/fastslow/eval/report"
)

// capacityCell is one mode and size across seeds.
type capacityCell struct {
	recall, bits, general, known, ppl, retrieval metrics.Summary
	params, steps                                int
}

func (r *CapacityResult) cell(mode string, n int) capacityCell {
	var c capacityCell
	var recall, bits, general, known, ppl, retr []float64
	for _, run := range r.Runs {
		if run.Mode != mode || run.N != n {
			continue
		}
		recall, bits = append(recall, run.Recall), append(bits, run.Bits)
		general, ppl = append(general, run.General-r.GeneralBefore), append(ppl, run.PPL-r.PPLBefore)
		known = append(known, run.GeneralKnown-r.KnownBefore)
		retr = append(retr, run.Retrieval)
		c.params, c.steps = run.Params, run.Steps
	}
	c.recall, c.bits, c.general, c.ppl, c.retrieval = summarize(recall), summarize(bits), summarize(general), summarize(ppl), summarize(retr)
	c.known = summarize(known)
	return c
}

// knee returns the first size at which the mode's mean recall falls below 90% of its recall at the smallest
// size, and the size before it; ok is false when recall holds over the whole grid.
func (r *CapacityResult) knee(mode string) (before, at int, ok bool) {
	if len(r.Sizes) == 0 {
		return 0, 0, false
	}
	first := r.cell(mode, r.Sizes[0]).recall.Mean
	for i, n := range r.Sizes[1:] {
		if r.cell(mode, n).recall.Mean < 0.9*first {
			return r.Sizes[i], n, true
		}
	}
	return 0, 0, false
}

func (r *CapacityResult) kneeText(mode string) string {
	if b, a, ok := r.knee(mode); ok {
		return fmt.Sprintf("between %d and %d facts", b, a)
	}
	return fmt.Sprintf("none up to %d facts", r.Sizes[len(r.Sizes)-1])
}

func modeLabel(mode string) string {
	switch mode {
	case ModeLoRA:
		return "LoRA"
	case ModeFull:
		return "full fine-tuning"
	case ModeNotes:
		return "notes in context"
	}
	return mode
}

// Sections returns the experiment's report sections and its verdict row.
func (r *CapacityResult) Sections() ([]report.Section, []report.Verdict, error) {
	if len(r.Runs) == 0 || len(r.Sizes) == 0 {
		return nil, nil, fmt.Errorf("capacity: no runs")
	}
	seeds := 0
	for _, run := range r.Runs {
		seeds = max(seeds, run.Seed)
	}
	xs := make([]float64, len(r.Sizes))
	for i, n := range r.Sizes {
		xs[i] = float64(n)
	}
	recall := &report.Lines{Band: true}
	general := &report.Lines{Band: true}
	tbl := report.Table{Header: []string{"mode", "facts", "recall", "bits recalled (chance-corrected)", "bits per trained parameter", "pretraining facts answered, change", "still ranked first, change", "prose perplexity, change", "steps"}}
	values := map[string]float64{"general_before": r.GeneralBefore, "general_known_before": r.KnownBefore, "ppl_before": r.PPLBefore}
	for _, mode := range r.Modes {
		var rec, gen [][]float64
		for seed := 1; seed <= seeds; seed++ {
			rr, gg := make([]float64, len(r.Sizes)), make([]float64, len(r.Sizes))
			found := 0
			for _, run := range r.Runs {
				if run.Mode != mode || run.Seed != seed {
					continue
				}
				for i, n := range r.Sizes {
					if run.N == n {
						rr[i], gg[i] = run.Recall, run.General-r.GeneralBefore
						found++
					}
				}
			}
			if found == len(r.Sizes) {
				rec, gen = append(rec, rr), append(gen, gg)
			}
		}
		if len(rec) == 0 {
			continue
		}
		s, err := report.SeriesFromRuns(modeLabel(mode), xs, rec)
		if err != nil {
			return nil, nil, fmt.Errorf("capacity: %w", err)
		}
		recall.Series = append(recall.Series, s)
		if s, err = report.SeriesFromRuns(modeLabel(mode), xs, gen); err != nil {
			return nil, nil, fmt.Errorf("capacity: %w", err)
		}
		general.Series = append(general.Series, s)
		for _, n := range r.Sizes {
			c := r.cell(mode, n)
			perParam := "–"
			if c.params > 0 {
				perParam = fmt.Sprintf("%.4f", c.bits.Mean/float64(c.params))
			}
			label := modeLabel(mode)
			if mode == ModeNotes {
				label += fmt.Sprintf(" (right note retrieved %.2f)", nan0(c.retrieval.Mean))
			}
			tbl.Rows = append(tbl.Rows, []string{label, fmt.Sprint(n), pm0(c.recall), fmt.Sprintf("%.0f", nan0(c.bits.Mean)), perParam, pm(c.general), pm(c.known), pm(c.ppl), fmt.Sprint(c.steps)})
			key := fmt.Sprintf("%s_%d_", mode, n)
			values[key+"recall"] = nan0(c.recall.Mean)
			values[key+"general_change"] = nan0(c.general.Mean)
			values[key+"general_known_change"] = nan0(c.known.Mean)
			values[key+"ppl_change"] = nan0(c.ppl.Mean)
		}
	}
	var params []string
	for _, mode := range r.Modes {
		if c := r.cell(mode, r.Sizes[0]); c.params > 0 {
			params = append(params, fmt.Sprintf("%s trains %d parameters, room for about %d facts at 2 bits per parameter and %.1f bits per fact",
				modeLabel(mode), c.params, int(2*float64(c.params)/r.bitsPerFact()), r.bitsPerFact()))
		}
	}
	sec := report.Section{
		Title: "Capacity: facts in the weights against facts as notes",
		Text: fmt.Sprintf("After Allen-Zhu and Li, *Physics of Language Models, Part 3.3: Knowledge Capacity Scaling Laws* (about 2 bits of "+
			"knowledge per parameter, when every fact has been seen about a thousand times). N facts about people the model never saw "+
			"(N = %s) are learned into the weights, %d passes over them (a LoRA adapter of rank %d, or full fine-tuning), or kept as %d "+
			"note(s) per question in a prompt store (form: %s) and retrieved by BM25 into the context. Recall is greedy exact match on "+
			"the trained questions; general ability is accuracy on pretraining facts asked in an untrained wording (first line of the answer; %.2f before), "+
			"the share of them whose right value the likelihood probe still ranks above 9 other values (%.2f before: lost answers with the value "+
			"still ranked first are the way to the knowledge lost, not the knowledge), and held-out prose perplexity (%.1f before). "+
			"In the in-process engine; %d seeds, mean ± 95%% interval.\n\n"+
			"The knee is the first N whose recall falls below 90%% of the recall at the smallest N. %s. With %d passes per fact the "+
			"grid is far below that bound: a knee here shows what this training budget fits, not the capacity limit.",
			joinInts(r.Sizes), r.Epochs, r.LoRARank, r.Notes, r.NoteForm, r.GeneralBefore, r.KnownBefore, r.PPLBefore, seeds, strings.Join(params, "; "), r.Epochs),
		Tables: []report.Table{tbl},
		Plots: []report.Plot{
			{ID: "capacity-recall", Title: "Recall against the number of facts: " + modesText(r.Modes), XLabel: "facts learned", YLabel: "recall", Lines: recall,
				Range: &[2]float64{0, 1}, Refs: []report.Ref{{Y: 0, Label: "zero"}}},
			{ID: "capacity-general", Title: "General ability against the number of facts", XLabel: "facts learned",
				YLabel: "change of pretraining-fact accuracy", Lines: general},
		},
		Values: values,
		Data:   map[string]any{"runs": r.Runs, "sizes": r.Sizes},
	}
	return []report.Section{sec}, []report.Verdict{r.verdict()}, nil
}

// bitsPerFact is the mean information of one fact in the runs (log2 of its attribute's number of values).
func (r *CapacityResult) bitsPerFact() float64 {
	var bits, facts float64
	for _, run := range r.Runs {
		bits += run.FactBits
		facts += float64(run.N)
	}
	if facts == 0 || bits == 0 {
		return 1
	}
	return bits / facts
}

func (r *CapacityResult) verdict() report.Verdict {
	last := r.Sizes[len(r.Sizes)-1]
	var parts, knees []string
	for _, mode := range r.Modes {
		first, end := r.cell(mode, r.Sizes[0]), r.cell(mode, last)
		part := fmt.Sprintf("%s recall %.2f at %d facts → %.2f at %d", modeLabel(mode), nan0(first.recall.Mean), r.Sizes[0], nan0(end.recall.Mean), last)
		if mode != ModeNotes {
			part += fmt.Sprintf(" (pretraining facts answered %+.2f, still ranked first %+.2f)", nan0(end.general.Mean), nan0(end.known.Mean))
			knees = append(knees, fmt.Sprintf("%s: %s", modeLabel(mode), r.kneeText(mode)))
		}
		parts = append(parts, part)
	}
	verdict := "knee " + strings.Join(knees, "; ")
	if len(knees) == 0 {
		verdict = "notes only"
	}
	return report.Verdict{
		Question: "Capacity: how many new facts fit in the weights before recall falls, against notes in context?",
		Verdict:  verdict,
		Evidence: strings.Join(parts, "; ") + ". Pretraining facts no longer answered but still ranked first are the way to them lost, " +
			"not the knowledge; notes change no weight, so there is nothing to reverse.",
	}
}

// Report builds the experiment's report on its own.
func (r *CapacityResult) Report(title, model string) (*report.Report, error) {
	secs, verdicts, err := r.Sections()
	return engineReport(title, model, r.Seconds, secs, verdicts, err)
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}

// modesText names the compared modes for plot titles.
func modesText(modes []string) string {
	var out []string
	for _, m := range modes {
		out = append(out, modeLabel(m))
	}
	return strings.Join(out, ", ")
}
