package lab

import (
	"fmt"
	"math"
	"strings"

	"github.com/fastslow/fastslow/eval/metrics"
	"github.com/fastslow/fastslow/eval/report"
	"github.com/fastslow/fastslow/fastslow"
)

// policyStats are a policy's numbers across seeds.
type policyStats struct {
	avg, bwt, forget, steps, target, factsDrop, pplChange, kl, plasticity metrics.Summary
	perTaskForget                                                         []metrics.Summary
	matrices                                                              []metrics.Matrix
}

func summarize(xs []float64) metrics.Summary {
	s, err := metrics.Summarize(xs)
	if err != nil {
		return metrics.Summary{Mean: math.NaN()}
	}
	return s
}

// stats computes every policy's summaries; reached reports whether every run of the policy reached the target
// on every task (otherwise steps-to-target counts a miss as the round's full budget, a lower bound).
func (r *StreamResult) stats() (map[string]*policyStats, error) {
	out := map[string]*policyStats{}
	T := len(r.Tasks)
	for _, p := range sortedPolicies(r.Runs) {
		st := &policyStats{}
		var avg, bwt, forget, steps, target, facts, ppl, kl, plast []float64
		perTask := make([][]float64, max(T-1, 0))
		for _, run := range r.Runs {
			if run.Policy != p {
				continue
			}
			st.matrices = append(st.matrices, run.Matrix)
			a, err := metrics.AverageAccuracy(run.Matrix)
			if err != nil {
				return nil, err
			}
			avg = append(avg, a)
			if T > 1 {
				b, err := metrics.BWT(run.Matrix)
				if err != nil {
					return nil, err
				}
				f, err := metrics.AverageForgetting(run.Matrix)
				if err != nil {
					return nil, err
				}
				fs, err := metrics.Forgetting(run.Matrix)
				if err != nil {
					return nil, err
				}
				bwt, forget = append(bwt, b), append(forget, f)
				for i := range fs {
					perTask[i] = append(perTask[i], fs[i])
				}
			}
			steps = append(steps, float64(sum(run.Steps)))
			total := 0.0
			for _, s := range run.StepsToTarget {
				if s < 0 { // never reached: count the weight-only round's budget, whatever the policy
					s = r.Steps
				}
				total += float64(s)
			}
			target = append(target, total/float64(max(1, len(run.StepsToTarget))))
			facts = append(facts, run.FactsAfter-run.FactsBefore)
			ppl = append(ppl, run.PPLAfter-run.PPLBefore)
			kl = append(kl, run.KL)
			plast = append(plast, run.Plasticity)
		}
		st.avg, st.bwt, st.forget = summarize(avg), summarize(bwt), summarize(forget)
		st.steps, st.target = summarize(steps), summarize(target)
		st.factsDrop, st.pplChange, st.kl, st.plasticity = summarize(facts), summarize(ppl), summarize(kl), summarize(plast)
		for _, xs := range perTask {
			st.perTaskForget = append(st.perTaskForget, summarize(xs))
		}
		out[p] = st
	}
	return out, nil
}

// Report builds the stream experiment's report.
func (r *StreamResult) Report(title, model string) (*report.Report, error) {
	st, err := r.stats()
	if err != nil {
		return nil, err
	}
	policies := sortedPolicies(r.Runs)
	seeds := 0
	for _, run := range r.Runs {
		seeds = max(seeds, run.Seed)
	}
	rep := &report.Report{
		Title: title,
		Summary: fmt.Sprintf("Model **%s**, served by **%s**. Task stream: %s; %d seeds per policy; "+
			"weight-only rounds take %d steps per task, FST rounds at most %d within a forgetting budget of %.2f. "+
			"The run took %.0f s.\n\n"+
			"R[k][i] is the test accuracy on task i after learning task k (exact match, greedy, served as a user "+
			"would be served: the task's promoted prompt with the promoted adapter). BWT is the mean over earlier "+
			"tasks of R[T][i] − R[i][i]; forgetting_i is the largest drop of task i from any earlier row to the last.",
			model, r.Server, strings.Join(r.Tasks, " → "), seeds, r.Steps, r.FSTSteps, r.Budget, r.Seconds),
		Values: map[string]float64{},
	}
	for _, p := range policies {
		rep.Values[p+"_average_accuracy"] = st[p].avg.Mean
		rep.Values[p+"_bwt"] = st[p].bwt.Mean
		rep.Values[p+"_forgetting"] = st[p].forget.Mean
		rep.Values[p+"_weight_steps"] = st[p].steps.Mean
	}
	fst, w := st[fastslow.PolicyFST.Name()], st[fastslow.PolicyWeights.Name()]
	var stepRatio, forgetRatio float64
	haveRatios := fst != nil && w != nil
	if haveRatios {
		stepRatio = ratio(w.target.Mean, fst.target.Mean)
		forgetRatio = ratio(fst.forget.Mean, w.forget.Mean)
		rep.Values["weight_step_ratio_weights_over_fst"] = stepRatio
		rep.Values["forgetting_ratio_fst_over_weights"] = forgetRatio
	}

	for _, p := range policies {
		sec, err := report.AccuracySection("Policy "+p, "acc-"+p, r.Tasks, st[p].matrices)
		if err != nil {
			return nil, err
		}
		sec.Text = policyText(p) + "\n\n" + sec.Text
		rep.Sections = append(rep.Sections, sec)
	}
	if len(r.Tasks) > 1 {
		bars := &report.Bars{Categories: r.Tasks[:len(r.Tasks)-1]}
		for _, p := range policies {
			g := report.BarGroup{Name: p}
			for _, s := range st[p].perTaskForget {
				g.Values = append(g.Values, s.Mean)
				g.Err = append(g.Err, s.HalfWidth())
			}
			bars.Groups = append(bars.Groups, g)
		}
		rep.Sections = append(rep.Sections, report.Section{
			Title: "Forgetting by task",
			Text:  "How far each task fell from its best accuracy by the end of the stream (mean over seeds, 95% interval); the last task is left out, nothing came after it.",
			Plots: []report.Plot{{ID: "forgetting-by-task", Title: "Forgetting per task", XLabel: "task", YLabel: "forgetting (accuracy points)", Bars: bars}},
		})
	}
	curves, err := r.curveSection(policies)
	if err != nil {
		return nil, err
	}
	rep.Sections = append(rep.Sections, curves)
	rep.Sections = append(rep.Sections, r.generalSection(policies, st))
	rep.Verdicts = r.verdicts(st, haveRatios, stepRatio, forgetRatio)
	return rep, nil
}

func policyText(name string) string {
	p, err := fastslow.ParsePolicy(name)
	if err != nil {
		return ""
	}
	return "**" + name + "**: " + p.Describe() + "."
}

func ratio(a, b float64) float64 {
	if b == 0 {
		if a == 0 {
			return 1
		}
		return math.Inf(1)
	}
	return a / b
}

// curveSection plots mean validation accuracy (over tasks and seeds) against weight steps within a round.
func (r *StreamResult) curveSection(policies []string) (report.Section, error) {
	maxStep := 0
	for _, run := range r.Runs {
		for _, c := range run.Curves {
			for _, p := range c {
				maxStep = max(maxStep, p.Step)
			}
		}
	}
	stride := max(1, maxStep/12)
	var xs []float64
	for s := 0; s <= maxStep; s += stride {
		xs = append(xs, float64(s))
	}
	if xs[len(xs)-1] != float64(maxStep) {
		xs = append(xs, float64(maxStep))
	}
	lines := &report.Lines{Band: true}
	for _, p := range policies {
		var runs [][]float64
		for _, run := range r.Runs {
			if run.Policy != p {
				continue
			}
			row := make([]float64, len(xs))
			for j, x := range xs {
				total, n := 0.0, 0
				for _, c := range run.Curves {
					if v, ok := valueAt(c, int(x)); ok {
						total += v
						n++
					}
				}
				if n > 0 {
					row[j] = total / float64(n)
				}
			}
			runs = append(runs, row)
		}
		s, err := report.SeriesFromRuns(p, xs, runs)
		if err != nil {
			return report.Section{}, err
		}
		lines.Series = append(lines.Series, s)
	}
	tbl := report.Table{Header: []string{"policy", "mean weight steps to reach the target, per task", "weight steps kept, whole stream"}}
	for _, p := range policies {
		var parts []string
		var kept float64
		n := 0
		for _, run := range r.Runs {
			if run.Policy != p {
				continue
			}
			kept += float64(sum(run.Steps))
			n++
			for k, s := range run.StepsToTarget {
				if len(parts) <= k {
					parts = append(parts, "")
				}
				if s < 0 {
					parts[k] += "– "
				} else {
					parts[k] += fmt.Sprintf("%d ", s)
				}
			}
		}
		for k := range parts {
			parts[k] = r.Tasks[k] + ": " + strings.TrimSpace(parts[k])
		}
		tbl.Rows = append(tbl.Rows, []string{p, strings.Join(parts, "; "), fmt.Sprintf("%.0f", kept/float64(max(n, 1)))})
	}
	return report.Section{
		Title: "Learning curves",
		Text: fmt.Sprintf("Validation accuracy on the task being learned against the weight steps of its round, averaged over tasks (a "+
			"policy's last value carries forward once its round has ended). Step 0 is after the prompt cycle. The target for "+
			"steps-to-target is %.2f; '–' marks a round that never reached it, counted as the weight-only round's %d steps in the ratio "+
			"(for every policy, so a miss never favours fst).", r.Target, r.Steps),
		Tables: []report.Table{tbl},
		Plots:  []report.Plot{{ID: "learning-curves", Title: "Learning curves", XLabel: "weight steps in the round", YLabel: "validation accuracy", Lines: lines}},
	}, nil
}

// valueAt is the curve's value at the last point at or before step.
func valueAt(c []metrics.Point, step int) (float64, bool) {
	v, ok := 0.0, false
	for _, p := range c {
		if p.Step <= step {
			v, ok = p.Value, true
		}
	}
	return v, ok
}

func (r *StreamResult) generalSection(policies []string, st map[string]*policyStats) report.Section {
	tbl := report.Table{Header: []string{"policy", "pretraining facts, change", "held-out prose perplexity, change", "KL to base (nats/token)", "plasticity on " + orDash(r.HeldOut)}}
	values := map[string]float64{}
	for _, p := range policies {
		s := st[p]
		tbl.Rows = append(tbl.Rows, []string{p, pm(s.factsDrop), pm(s.pplChange), pm(s.kl), pm(s.plasticity)})
		values[p+"_facts_change"] = s.factsDrop.Mean
		values[p+"_ppl_change"] = s.pplChange.Mean
		values[p+"_kl"] = s.kl.Mean
		values[p+"_plasticity"] = s.plasticity.Mean
	}
	var before, ppl float64
	if len(r.Runs) > 0 {
		before, ppl = r.Runs[0].FactsBefore, r.Runs[0].PPLBefore
	}
	values["facts_before"], values["ppl_before"] = before, ppl
	return report.Section{
		Title: "General ability",
		Text: fmt.Sprintf("Before the stream the base model answers %.2f of the pretraining-fact probes (fill-in-the-blank facts about people no task trains on, asked raw) "+
			"and has held-out prose perplexity %.2f. The table gives the change after the stream (mean ± 95%% interval half-width), the "+
			"KL divergence of the served model's next-token distribution from the base on that prose, and the test-accuracy gain from one "+
			"round on a task held out of the stream.", before, ppl),
		Tables: []report.Table{tbl},
		Values: values,
	}
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func pm(s metrics.Summary) string {
	if s.N == 0 || math.IsNaN(s.Mean) {
		return "–"
	}
	if s.N > 1 {
		return fmt.Sprintf("%+.3f ± %.3f", s.Mean, s.HalfWidth())
	}
	return fmt.Sprintf("%+.3f", s.Mean)
}

func (r *StreamResult) verdicts(st map[string]*policyStats, haveRatios bool, stepRatio, forgetRatio float64) []report.Verdict {
	var v []report.Verdict
	if haveRatios {
		fst, w := st[fastslow.PolicyFST.Name()], st[fastslow.PolicyWeights.Name()]
		verdict := "no"
		if fst.forget.Mean < w.forget.Mean {
			verdict = "yes"
		}
		v = append(v, report.Verdict{
			Question: "Does fst forget less than weight-only fine-tuning?",
			Verdict:  verdict,
			Evidence: fmt.Sprintf("average forgetting %.3f (fst) vs %.3f (weights): ratio %.2f; BWT %+.3f vs %+.3f", fst.forget.Mean, w.forget.Mean, forgetRatio, fst.bwt.Mean, w.bwt.Mean),
		})
		verdict = "no"
		if fst.target.Mean < w.target.Mean {
			verdict = "yes"
		}
		v = append(v, report.Verdict{
			Question: "Does fst reach the target in fewer weight steps?",
			Verdict:  verdict,
			Evidence: fmt.Sprintf("mean weight steps to %.2f validation accuracy: %.1f (fst) vs %.1f (weights): weights/fst = %.2f", r.Target, fst.target.Mean, w.target.Mean, stepRatio),
		})
		verdict = "no"
		if math.Abs(fst.kl.Mean) < math.Abs(w.kl.Mean) {
			verdict = "yes"
		}
		v = append(v, report.Verdict{
			Question: "Does fst stay closer to the base model?",
			Verdict:  verdict,
			Evidence: fmt.Sprintf("KL to base %.4f (fst) vs %.4f (weights) nats/token; pretraining facts %+.3f vs %+.3f", fst.kl.Mean, w.kl.Mean, fst.factsDrop.Mean, w.factsDrop.Mean),
		})
	}
	if p := st[fastslow.PolicyPrompts.Name()]; p != nil {
		v = append(v, report.Verdict{
			Question: "What does the prompt channel alone achieve?",
			Verdict:  fmt.Sprintf("average accuracy %.2f", p.avg.Mean),
			Evidence: fmt.Sprintf("forgetting %.3f, with no weight change (KL %.4f)", p.forget.Mean, p.kl.Mean),
		})
	}
	return v
}

// engineReport is the report of one reversibility experiment run on its own: its sections and verdict, with a
// summary saying the work ran in the in-process engine.
func engineReport(title, model string, seconds float64, secs []report.Section, verdicts []report.Verdict, err error) (*report.Report, error) {
	if err != nil {
		return nil, err
	}
	return &report.Report{
		Title:    title,
		Summary:  fmt.Sprintf("Model **%s**, trained and measured in the in-process engine. The run took %.0f s.", model, seconds),
		Values:   secs[0].Values,
		Sections: secs,
		Verdicts: verdicts,
	}, nil
}
