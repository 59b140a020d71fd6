package lab

import (
	"fmt"
	"math"

	"github.com/fastslow/fastslow/eval/metrics"
	"github.com/fastslow/fastslow/eval/report"
)

// spuriousStats are one variant's numbers across seeds.
type spuriousStats struct {
	variant                       string
	accA, afterB, final, accB     metrics.Summary
	recovered, stillShare         metrics.Summary // recovered: share of the drop back after the recovery
	control, knownAfterA, probeRe metrics.Summary
	halfSteps                     []int // per seed: first recovery step regaining half the drop, −1 if none
	curves                        [][]float64
	forgotten, still              int // pooled over seeds
	recKnown, recGone             int
}

func (r *SpuriousResult) variants() []string {
	var out []string
	for _, v := range []string{"all", "frozen"} {
		for _, run := range r.Runs {
			if run.Variant == v {
				out = append(out, v)
				break
			}
		}
	}
	return out
}

func (r *SpuriousResult) stats(variant string) *spuriousStats {
	st := &spuriousStats{variant: variant}
	var accA, afterB, final, accB, rec, still, ctl, kA, kR []float64
	for _, run := range r.Runs {
		if run.Variant != variant {
			continue
		}
		last := run.AccAAfterB
		if n := len(run.Recovery); n > 0 {
			last = run.Recovery[n-1]
		}
		accA, afterB, final, accB = append(accA, run.AccA), append(afterB, run.AccAAfterB), append(final, last), append(accB, run.AccB)
		drop := run.AccA - run.AccAAfterB
		half := -1
		if drop > 0 {
			rec = append(rec, (last-run.AccAAfterB)/drop)
			for s, v := range run.Recovery {
				if v >= run.AccAAfterB+drop/2 {
					half = s
					break
				}
			}
		}
		st.halfSteps = append(st.halfSteps, half)
		if run.Forgotten > 0 {
			still = append(still, float64(run.StillKnown)/float64(run.Forgotten))
			kR = append(kR, run.KnownAfterRecovery)
		}
		ctl, kA = append(ctl, run.Control), append(kA, run.KnownAfterA)
		st.curves = append(st.curves, run.Recovery)
		st.forgotten += run.Forgotten
		st.still += run.StillKnown
		st.recKnown += run.RecoveredKnown
		st.recGone += run.RecoveredGone
	}
	st.accA, st.afterB, st.final, st.accB = summarize(accA), summarize(afterB), summarize(final), summarize(accB)
	st.recovered, st.stillShare = summarize(rec), summarize(still)
	st.control, st.knownAfterA, st.probeRe = summarize(ctl), summarize(kA), summarize(kR)
	return st
}

func (r *SpuriousResult) recoverySource() string {
	switch r.Recovery {
	case RecoveryNew:
		return fmt.Sprintf("%d facts about new people in neither task", r.RecoveryExamples)
	case RecoveryKnown:
		return fmt.Sprintf("%d questions about people known from pretraining", r.RecoveryExamples)
	case RecoveryHalf:
		return fmt.Sprintf("%d facts of the other half of task A's people (only the first half is measured)", r.RecoveryExamples)
	}
	return r.Recovery
}

func (r *SpuriousResult) taskAText() string {
	if r.TaskA == TaskAKnown {
		return fmt.Sprintf("knowledge from pretraining — the seven facts of each of %d people the base model met in its pretraining "+
			"biographies, none of whom task B names; nothing is trained for A (\"A after A\" is the base model)", r.People)
	}
	return fmt.Sprintf("the seven facts of each of %d new people (never in pretraining), learned into a LoRA adapter in %d steps", r.People, r.StepsA)
}

func (r *SpuriousResult) taskBText() string {
	if r.TaskB == SpuriousPeople {
		return fmt.Sprintf("the facts of %d other new people in the same question format", r.People)
	}
	return fmt.Sprintf("%d questions about known people answered in a conflicting format (%s)", r.People*7, r.TaskB)
}

// Sections returns the experiment's report sections and its verdict row, to stand alone (Report) or to join
// another report.
func (r *SpuriousResult) Sections() ([]report.Section, []report.Verdict, error) {
	vs := r.variants()
	if len(vs) == 0 {
		return nil, nil, fmt.Errorf("spurious: no runs")
	}
	seeds := 0
	for _, run := range r.Runs {
		seeds = max(seeds, run.Seed)
	}
	chance := 1 / float64(r.Distractors+1)
	tbl := report.Table{Header: []string{"variant", "A after A", "A after B", "A after recovery", "share of the drop back", "steps to half the drop", "B learned"}}
	probeTbl := report.Table{Header: []string{"variant", "forgotten facts", "still ranked first", "control (never trained)", "after recovery", "came back: ranked first / not"}}
	lines := &report.Lines{Band: true}
	bars := &report.Bars{Categories: []string{"forgotten facts", "never-trained facts (control)", "facts after task A"}}
	values := map[string]float64{"chance": chance}
	stats := map[string]*spuriousStats{}
	for _, v := range vs {
		st := r.stats(v)
		stats[v] = st
		label := r.variantLabel(v)
		tbl.Rows = append(tbl.Rows, []string{label, pm0(st.accA), pm0(st.afterB), pm0(st.final), pm0(st.recovered), fmtSteps(st.halfSteps), pm0(st.accB)})
		probeTbl.Rows = append(probeTbl.Rows, []string{label, fmt.Sprint(st.forgotten),
			fmt.Sprintf("%d (%s)", st.still, pm0(st.stillShare)), pm0(st.control), pm0(st.probeRe),
			fmt.Sprintf("%s / %s", ratioText(st.recKnown, st.still), ratioText(st.recGone, st.forgotten-st.still))})
		xs := make([]float64, r.RecoverySteps+1)
		for i := range xs {
			xs[i] = float64(i)
		}
		s, err := report.SeriesFromRuns(label, xs, st.curves)
		if err != nil {
			return nil, nil, fmt.Errorf("spurious: %w", err)
		}
		lines.Series = append(lines.Series, s)
		bars.Groups = append(bars.Groups, report.BarGroup{Name: label,
			Values: []float64{nan0(st.stillShare.Mean), nan0(st.control.Mean), nan0(st.knownAfterA.Mean)},
			Err:    []float64{nan0(st.stillShare.HalfWidth()), nan0(st.control.HalfWidth()), nan0(st.knownAfterA.HalfWidth())}})
		for k, x := range map[string]metrics.Summary{"acc_a": st.accA, "acc_a_after_b": st.afterB, "acc_a_recovered": st.final,
			"recovered_share": st.recovered, "still_known_share": st.stillShare, "control_share": st.control, "acc_b": st.accB} {
			values[v+"_"+k] = nan0(x.Mean)
		}
		values[v+"_forgotten"] = float64(st.forgotten)
		values[v+"_still_known"] = float64(st.still)
	}
	text := fmt.Sprintf("After Zheng et al., *Spurious Forgetting in Continual Learning of Language Models* (ICLR 2025). "+
		"Task A: %s. "+
		"Task B: %s, %d steps on the same adapter. Then %d recovery steps (learning rate lower) on %s: none of it is a measured fact. "+
		"Accuracy is greedy exact match on task A's measured facts, in the in-process engine (the experiment probes weights, not serving). "+
		"%d seeds; mean ± 95%% interval.\n\n"+
		"The likelihood probe asks, for every measured fact the model answered right after A and wrong after B, whether log p(right value | question) "+
		"is still above log p(v | question) for %d other values v of the same attribute. A fact still ranked first is knowledge the model holds "+
		"without producing it; the control is the same probe on facts never trained (chance is %.2f).",
		r.taskAText(), r.taskBText(), r.StepsB, r.RecoverySteps, r.recoverySource(), seeds, r.Distractors, chance)
	if r.Freeze > 0 {
		text += fmt.Sprintf(" The *frozen* variant keeps the lower %d of %d blocks fixed while B is learned (the paper's remedy).", r.Freeze, r.Layers)
	}
	sec := report.Section{
		Title:  "Spurious forgetting: is the knowledge gone, or only the way to it?",
		Text:   text,
		Tables: []report.Table{tbl, probeTbl},
		Plots: []report.Plot{
			{ID: "spurious-recovery", Title: "LoRA (all blocks, and lower blocks frozen): task A during the recovery", XLabel: "recovery steps", YLabel: "task A accuracy", Lines: lines,
				Range: &[2]float64{0, 1}, Refs: []report.Ref{{Y: meanOf(stats, func(s *spuriousStats) float64 { return s.accA.Mean }), Label: "after task A"}},
				Caption: "Step 0 is right after task B."},
			{ID: "spurious-probe", Title: "LoRA: right value still ranked first", XLabel: "facts", YLabel: "share ranked first", Bars: bars,
				Range: &[2]float64{0, 1}, Refs: []report.Ref{{Y: chance, Label: "chance"}},
				Caption: fmt.Sprintf("Chance is %.2f.", chance)},
		},
		Values: values,
		Data:   map[string]any{"runs": r.Runs},
	}
	return []report.Section{sec}, []report.Verdict{r.verdict(stats, chance, values)}, nil
}

func (r *SpuriousResult) variantLabel(v string) string {
	if v == "frozen" {
		return fmt.Sprintf("lower %d blocks frozen", r.Freeze)
	}
	return "all blocks learn B"
}

// verdict answers the experiment's question and adds its figures to values: the share of the drop recovered
// with its interval (spurious_recovered_share), and the probe's 2×2 table with Fisher's p (spurious_fisher_*).
func (r *SpuriousResult) verdict(stats map[string]*spuriousStats, chance float64, values map[string]float64) report.Verdict {
	variant := "all"
	if stats["all"] == nil {
		variant = "frozen"
	}
	st := stats[variant]
	// Per seed: the share of A's drop that came back; and, pooled, whether the probe predicts which facts do.
	var shares []float64
	var a, b, c, d int
	for _, run := range r.Runs {
		if run.Variant != variant {
			continue
		}
		if drop := run.AccA - run.AccAAfterB; drop > 0 && len(run.Recovery) > 0 {
			shares = append(shares, (run.Recovery[len(run.Recovery)-1]-run.AccAAfterB)/drop)
		}
		a += run.RecoveredKnown
		b += run.StillKnown - run.RecoveredKnown
		c += run.RecoveredGone
		d += run.Forgotten - run.StillKnown - run.RecoveredGone
	}
	verdict := "no forgetting to reverse"
	var back metrics.Interval
	if len(shares) > 0 && st.accA.Mean-st.afterB.Mean > 0.05 {
		var err error
		if back, err = metrics.BootstrapMean(shares, 1); err == nil {
			verdict = metrics.Decide(back)
			values["spurious_recovered_share"] = back.Estimate
			if back.Bounded {
				values["spurious_recovered_share_lo"], values["spurious_recovered_share_hi"] = back.Lo, back.Hi
			}
		}
	}
	ev := fmt.Sprintf("task A fell from %.2f to %.2f while B (%s) was learned; %d recovery steps on %s brought it to %.2f: the share of the drop "+
		"that came back is %s over %d seeds (yes only when the interval is above 0). "+
		"The probe still ranks the right value first for %d of %d forgotten facts (%.2f; never-trained control %.2f, chance %.2f), "+
		"and for %.2f of them after the recovery",
		st.accA.Mean, st.afterB.Mean, r.TaskB, r.RecoverySteps, r.recoverySource(), st.final.Mean, fmtCI(back), len(shares),
		st.still, st.forgotten, nan0(st.stillShare.Mean), st.control.Mean, chance, nan0(st.probeRe.Mean))
	if p, err := metrics.FisherExact(a, b, c, d); err == nil && a+b+c+d > 0 {
		values["spurious_fisher_p"] = p
		values["spurious_fisher_ranked_back"], values["spurious_fisher_ranked"] = float64(a), float64(a+b)
		values["spurious_fisher_other_back"], values["spurious_fisher_other"] = float64(c), float64(c+d)
		ev += fmt.Sprintf(". Does the probe predict which forgotten facts come back? Of those it still ranked first %d/%d came back, of the others %d/%d "+
			"(Fisher's exact test, two-sided p = %.3g", a, a+b, c, c+d, p)
		if p < 0.05 {
			ev += ": it does)"
		} else {
			ev += ": no evidence that it does)"
		}
	}
	if f := stats["frozen"]; f != nil && f != st {
		ev += fmt.Sprintf(". With the lower %d blocks frozen during B, A fell only to %.2f and ended at %.2f", r.Freeze, f.afterB.Mean, f.final.Mean)
	}
	return report.Verdict{Question: "Spurious forgetting: does task A come back after brief retraining on other data?", Verdict: verdict, Evidence: ev + "."}
}

// Report builds the experiment's report on its own.
func (r *SpuriousResult) Report(title, model string) (*report.Report, error) {
	secs, verdicts, err := r.Sections()
	return engineReport(title, model, r.Seconds, secs, verdicts, err)
}

// pm0 formats a summary as mean ± half-width (two decimals), or "–" when there is nothing to summarize.
func pm0(s metrics.Summary) string { return pmf(s, "%.2f", "%.2f") }

func nan0(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}

func ratioText(a, b int) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%d/%d", a, b)
}

func fmtSteps(xs []int) string {
	s := ""
	for i, x := range xs {
		if i > 0 {
			s += " "
		}
		if x < 0 {
			s += "–"
		} else {
			s += fmt.Sprint(x)
		}
	}
	return s
}

// meanOf is the mean over variants of f, for a reference line.
func meanOf(stats map[string]*spuriousStats, f func(*spuriousStats) float64) float64 {
	t, n := 0.0, 0
	for _, s := range stats {
		if v := f(s); !math.IsNaN(v) {
			t += v
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return t / float64(n)
}
