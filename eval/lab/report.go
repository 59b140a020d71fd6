package lab

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/fastslow/fastslow/eval/metrics"
	"github.com/fastslow/fastslow/eval/report"
	"github.com/fastslow/fastslow/fastslow"
)

// armStats are an arm's per-seed numbers, in seed order, and the seeds.
type armStats struct {
	seeds                                                                    []int
	avg, bwt, forget, steps, target, facts, ppl, kl, plast, open, gens, secs []float64
	gate                                                                     []float64
	perTaskForget                                                            [][]float64 // [task][seed]
	matrices                                                                 []metrics.Matrix
	lr                                                                       float64
	stepsPerTask                                                             int
}

// armStats gathers every arm's numbers from runs; steps-to-target counts a round that never reached the target
// as the arm's own step budget per task (a lower bound on what it would have needed).
func collect(runs []Run, T int) (map[string]*armStats, error) {
	out := map[string]*armStats{}
	sorted := append([]Run(nil), runs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Seed < sorted[j].Seed })
	for _, run := range sorted {
		st := out[run.Policy]
		if st == nil {
			st = &armStats{perTaskForget: make([][]float64, max(T-1, 0)), lr: run.LR, stepsPerTask: run.Steps}
			out[run.Policy] = st
		}
		st.seeds = append(st.seeds, run.Seed)
		st.matrices = append(st.matrices, run.Matrix)
		a, err := metrics.AverageAccuracy(run.Matrix)
		if err != nil {
			return nil, err
		}
		st.avg = append(st.avg, a)
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
			st.bwt, st.forget = append(st.bwt, b), append(st.forget, f)
			for i := range fs {
				st.perTaskForget[i] = append(st.perTaskForget[i], fs[i])
			}
		}
		st.steps = append(st.steps, float64(sum(run.WeightSteps)))
		total := 0.0
		for _, s := range run.StepsToTarget {
			if s < 0 {
				s = run.Steps
			}
			total += float64(s)
		}
		st.target = append(st.target, total/float64(max(1, len(run.StepsToTarget))))
		st.facts = append(st.facts, run.FactsAfter-run.FactsBefore)
		st.ppl = append(st.ppl, run.PPLAfter-run.PPLBefore)
		st.kl = append(st.kl, run.KL)
		st.plast = append(st.plast, run.Plasticity)
		st.open = append(st.open, run.OpenBook)
		st.gens = append(st.gens, float64(run.Generations))
		st.secs = append(st.secs, run.LearnSeconds)
		st.gate = append(st.gate, float64(run.GateGenerations))
	}
	return out, nil
}

// ci is the mean of xs with its bootstrap interval, clipped to [lo, hi].
func ci(xs []float64, lo, hi float64) metrics.Interval {
	iv, err := metrics.BootstrapMean(xs, 1)
	if err != nil {
		return metrics.Interval{Estimate: math.NaN()}
	}
	return iv.Clip(lo, hi)
}

// fmtCI formats an interval as "0.52 [0.47, 0.58]".
func fmtCI(iv metrics.Interval) string {
	if math.IsNaN(iv.Estimate) {
		return "–"
	}
	if !iv.Bounded {
		return fmt.Sprintf("%.3g [unbounded]", iv.Estimate)
	}
	return fmt.Sprintf("%.3g [%.3g, %.3g]", iv.Estimate, iv.Lo, iv.Hi)
}

// paired returns a's and b's values on the seeds both have, in seed order.
func paired(a, b *armStats, f func(*armStats) []float64) (x, y []float64) {
	idx := map[int]int{}
	for i, s := range b.seeds {
		idx[s] = i
	}
	fa, fb := f(a), f(b)
	for i, s := range a.seeds {
		if j, ok := idx[s]; ok && i < len(fa) && j < len(fb) {
			x, y = append(x, fa[i]), append(y, fb[j])
		}
	}
	return x, y
}

// finding is one answer of the report: a question, a verdict from an interval, the evidence and its limits.
type finding struct {
	question, verdict, evidence, limits string
	iv                                  metrics.Interval
	key                                 string
}

// compare answers "is f(a) − f(b) above zero?" (or of the ratio), paired by seed.
func compare(key, question string, a, b *armStats, f func(*armStats) []float64, what, limits string) finding {
	x, y := paired(a, b, f)
	iv, err := metrics.BootstrapDiff(x, y, true, 1)
	if err != nil {
		return finding{key: key, question: question, verdict: metrics.Inconclusive, evidence: "no paired seeds: " + err.Error(), limits: limits, iv: metrics.Interval{Estimate: math.NaN()}}
	}
	return finding{key: key, question: question, verdict: metrics.Decide(iv), iv: iv, limits: limits,
		evidence: fmt.Sprintf("%s: difference %s over %d paired seeds (means %.3f vs %.3f)", what, fmtCI(iv), len(x), mean(x), mean(y))}
}

// Report builds the stream experiment's report: the answers first, then the headline table, the sweep and
// its frontier, the ablations, each arm's accuracy matrix, forgetting by task, learning curves and general
// ability; the verdict table closes it.
func (r *StreamResult) Report(title, model string) (*report.Report, error) {
	T := len(r.Tasks)
	st, err := collect(r.Runs, T)
	if err != nil {
		return nil, err
	}
	arms := r.Arms
	if len(arms) == 0 {
		arms = sortedPolicies(r.Runs)
	}
	rep := &report.Report{Title: title, Values: map[string]float64{}}
	sweep := "no sweep: every arm at the configured learning rate and steps per task"
	if len(r.Sweep) > 0 {
		var ss []string
		for _, s := range r.Sweep {
			ss = append(ss, fmt.Sprintf("lr %g × %d steps", s.LR, s.Steps))
		}
		sweep = fmt.Sprintf("each weight-training arm's learning rate and steps per task chosen from {%s} by validation average accuracy on seeds of their own (never test data)", strings.Join(ss, ", "))
	}
	rep.Summary = fmt.Sprintf("Model **%s**, served by **%s**. Task stream: %s (plasticity: %s). %d seeds per arm; each seed draws its own "+
		"world (which new people each task teaches, which facts are validation and which test, which examples, in which order) "+
		"as well as the adapter's initialization. Protocol: %s. Every question is served under **one shared prompt** (the task is "+
		"never named; retrieval decides which notes go in) and one adapter, unless an arm says \"per-task prompt\". Forgetting budget "+
		"%.2f on a retention set of earlier tasks' validation examples and pretraining facts. Intervals are 95%% percentile-bootstrap "+
		"intervals over seeds (paired by seed for differences); a verdict is yes or no only when its interval excludes zero. The run took %.0f s.",
		model, r.Server, strings.Join(r.Tasks, " → "), orDash(r.HeldOut), r.Seeds, sweep, r.Budget, r.Seconds)

	var findings []finding
	fst, w, rp, pr := st[fastslow.PolicyFST.Name()], st[fastslow.PolicyWeights.Name()], st[fastslow.PolicyReplay.Name()], st[fastslow.PolicyPrompts.Name()]
	get := func(f func(*armStats) []float64) func(*armStats) []float64 { return f }
	forget := get(func(s *armStats) []float64 { return s.forget })
	avg := get(func(s *armStats) []float64 { return s.avg })
	if fst != nil && w != nil {
		findings = append(findings,
			compare("forgetting_weights_minus_fst", "Does fst forget less than weight-only fine-tuning?", w, fst, forget,
				"average forgetting, weights − fst", "forgetting is measured on this small model's synthetic tasks; it does not show which part of fst causes the difference (see the ablations)"),
			compare("accuracy_fst_minus_weights", "Does fst end with higher average accuracy than weight-only fine-tuning?", fst, w, avg,
				"average accuracy of the last row, fst − weights", "one stream order and task mix; another stream can rank them differently"),
			compare("target_steps_weights_minus_fst", "Does fst reach the target validation accuracy in fewer weight steps?", w, fst, get(func(s *armStats) []float64 { return s.target }),
				fmt.Sprintf("mean weight steps to %.2f validation accuracy (a miss counted as the arm's step budget), weights − fst", r.Target),
				"weight steps only: fst also spends generations on its prompt search (see cost)"),
			compare("kl_weights_minus_fst", "Does fst stay closer to the base model (KL on held-out prose)?", w, fst, get(func(s *armStats) []float64 { return s.kl }),
				"KL(base ‖ served) in nats/token, weights − fst", "KL on one held-out text, not on every use of the model"),
			compare("plasticity_fst_minus_weights", "Does fst learn a new task after the stream better than weight-only?", fst, w, get(func(s *armStats) []float64 { return s.plast }),
				"test-accuracy gain of one more round on the held-out task, fst − weights", "one held-out task"),
		)
		x, y := paired(fst, w, forget)
		if iv, err := metrics.BootstrapRatio(x, y, true, 1); err == nil && !math.IsNaN(iv.Estimate) {
			rep.Values["forgetting_ratio_fst_over_weights"] = iv.Estimate
			if iv.Bounded {
				rep.Values["forgetting_ratio_fst_over_weights_lo"], rep.Values["forgetting_ratio_fst_over_weights_hi"] = iv.Lo, iv.Hi
			}
			findings[0].evidence += "; ratio fst/weights " + fmtCI(iv)
		}
		x, y = paired(w, fst, get(func(s *armStats) []float64 { return s.target }))
		if iv, err := metrics.BootstrapRatio(x, y, true, 1); err == nil && !math.IsNaN(iv.Estimate) {
			rep.Values["weight_step_ratio_weights_over_fst"] = iv.Estimate
			if iv.Bounded {
				rep.Values["weight_step_ratio_weights_over_fst_lo"], rep.Values["weight_step_ratio_weights_over_fst_hi"] = iv.Lo, iv.Hi
			}
			findings[2].evidence += "; ratio weights/fst " + fmtCI(iv)
		}
	}
	if fst != nil && rp != nil {
		findings = append(findings,
			compare("forgetting_replay_minus_fst", "Does fst forget less than replay (weights with stored examples of earlier tasks)?", rp, fst, forget,
				"average forgetting, replay − fst", "replay's memory holds training examples; fst's gate holds validation examples: different stores of the same earlier tasks"),
			compare("accuracy_fst_minus_replay", "Does fst end with higher average accuracy than replay?", fst, rp, avg,
				"average accuracy of the last row, fst − replay", "one stream"))
	}
	if fst != nil && pr != nil {
		findings = append(findings, compare("accuracy_fst_minus_prompts", "Do fst's weight steps add accuracy over the prompt channel alone?", fst, pr, avg,
			"average accuracy of the last row, fst − prompts", "prompts never change a weight, so they cannot forget through the weights; their answers are mostly open-book (see the table)"))
	}
	for _, name := range arms {
		if base, ok := strings.CutSuffix(name, PerTaskSuffix); ok && st[base] != nil && st[name] != nil {
			findings = append(findings, compare("oracle_"+slug(base), "Does naming the task to the served model (per-task prompt) change "+base+"'s accuracy?", st[name], st[base], avg,
				"average accuracy, per-task prompt − shared prompt", "the per-task prompt is an oracle a user's requests do not carry"),
				compare("oracle_forgetting_"+slug(base), "Does the one shared prompt add to "+base+"'s forgetting (against the per-task prompt)?", st[base], st[name], forget,
					"average forgetting, shared prompt − per-task prompt", fmt.Sprintf("%d seeds, paired; the per-task prompt is an oracle", len(st[name].seeds))))
		}
	}
	if fst != nil {
		for _, name := range arms {
			if !strings.HasPrefix(name, fastslow.PolicyWeights.Name()+":") || st[name] == nil {
				continue
			}
			findings = append(findings,
				compare("forgetting_"+slug(name)+"_minus_fst", "Does fst forget less than "+name+"?", st[name], fst, forget,
					"average forgetting, "+name+" − fst", "each baseline at its own validation-chosen setting; one regularizer strength"),
				compare("accuracy_fst_minus_"+slug(name), "Does fst end with higher average accuracy than "+name+"?", fst, st[name], avg,
					"average accuracy of the last row, fst − "+name, "one stream"))
		}
	}
	chSec, chFindings := r.channelSection(arms)
	for k, v := range chSec.Values {
		rep.Values[k] = v
	}
	findings = append(findings, chFindings...)
	findings = append(findings, r.ablationFindings(st)...)

	ans := report.Table{Header: []string{"question", "answer", "estimate [95% interval]", "what it does not show"}}
	for _, f := range findings {
		ans.Rows = append(ans.Rows, []string{f.question, f.verdict, fmtCI(f.iv), f.limits})
		rep.Verdicts = append(rep.Verdicts, report.Verdict{Question: f.question, Verdict: f.verdict, Evidence: f.evidence})
		if !math.IsNaN(f.iv.Estimate) {
			rep.Values[f.key] = f.iv.Estimate
			if f.iv.Bounded {
				rep.Values[f.key+"_lo"], rep.Values[f.key+"_hi"] = f.iv.Lo, f.iv.Hi
			}
		}
	}
	rep.Sections = append(rep.Sections, report.Section{
		Title:  "Answers",
		Text:   "Each answer is yes or no only when the 95% interval of the difference (paired by seed) excludes zero; otherwise it is inconclusive. Positive differences favour the claim in the question.",
		Tables: []report.Table{ans},
	})
	rep.Sections = append(rep.Sections, r.headlineSection(arms, st, rep.Values))
	if len(r.SweepRuns) > 0 {
		sec, err := r.sweepSection()
		if err != nil {
			return nil, err
		}
		rep.Sections = append(rep.Sections, sec)
	}
	if len(chSec.Tables[0].Rows) > 0 {
		rep.Sections = append(rep.Sections, chSec)
	}
	if len(r.Ablation) > 0 {
		rep.Sections = append(rep.Sections, r.ablationSection(st))
	}
	for _, p := range arms {
		s := st[p]
		if s == nil || T < 2 {
			continue
		}
		sec, err := report.AccuracySection("Arm "+p, "acc-"+slug(p), r.Tasks, s.matrices)
		if err != nil {
			return nil, err
		}
		for i := range sec.Plots {
			sec.Plots[i].Title = p + ": " + sec.Plots[i].Title
			if sec.Plots[i].Bars != nil {
				sec.Plots[i].Range = &[2]float64{-1, 1}
				sec.Plots[i].Refs = []report.Ref{{Y: 0, Label: "no forgetting"}}
			}
		}
		sec.Text = r.armText(p) + "\n\n" + sec.Text
		rep.Sections = append(rep.Sections, sec)
	}
	if T > 1 {
		bars := &report.Bars{Categories: r.Tasks[:T-1]}
		for _, p := range arms {
			if st[p] == nil {
				continue
			}
			g := report.BarGroup{Name: p}
			for _, xs := range st[p].perTaskForget {
				iv := ci(xs, -1, 1)
				g.Values = append(g.Values, iv.Estimate)
				g.Err = append(g.Err, (iv.Hi-iv.Lo)/2)
			}
			bars.Groups = append(bars.Groups, g)
		}
		rep.Sections = append(rep.Sections, report.Section{
			Title: "Forgetting by task",
			Text:  "How far each task fell from its best accuracy by the end of the stream (mean over seeds; error bars: half the 95% bootstrap interval, clipped to the possible range); the last task is left out, nothing came after it.",
			Plots: []report.Plot{{ID: "forgetting-by-task", Title: "Forgetting per task: " + strings.Join(arms, ", "), XLabel: "task", YLabel: "forgetting (accuracy points)", Bars: bars,
				Refs: []report.Ref{{Y: 0, Label: "no forgetting"}}, Range: &[2]float64{-1, 1}}},
		})
	}
	curves, err := r.curveSection(arms)
	if err != nil {
		return nil, err
	}
	rep.Sections = append(rep.Sections, curves)
	rep.Sections = append(rep.Sections, r.generalSection(arms, st))
	return rep, nil
}

// PerTaskSuffix marks the per-task-prompt variant of an arm.
const PerTaskSuffix = " (per-task prompt)"

func (r *StreamResult) armText(name string) string {
	base, perTask := strings.CutSuffix(name, PerTaskSuffix)
	desc := r.Describe[base]
	if p, err := fastslow.ParsePolicy(base); err == nil && desc == "" {
		desc = p.Describe()
	}
	for _, a := range AblationPolicies() {
		if a.Name() == base {
			desc = a.Describe()
		}
	}
	if desc == "" {
		return ""
	}
	if perTask {
		desc += fmt.Sprintf("; served with each task's own prompt (the task named: an oracle), on the first %d seeds at %s's chosen setting", r.AblationSeeds, base)
	}
	return "**" + name + "**: " + desc + "."
}

func (r *StreamResult) headlineSection(arms []string, st map[string]*armStats, values map[string]float64) report.Section {
	tbl := report.Table{Header: []string{"arm", "lr × steps/task", "average accuracy", "forgetting", "BWT", "weight steps kept", "generations: prompt search", "generations: gate", "learning seconds", "right answers found in the prompt (open book)"}}
	for _, p := range arms {
		s := st[p]
		if s == nil {
			continue
		}
		a, f, b := ci(s.avg, 0, 1), ci(s.forget, -1, 1), ci(s.bwt, -1, 1)
		setting := fmt.Sprintf("%g × %d", s.lr, s.stepsPerTask)
		if strings.TrimSuffix(p, PerTaskSuffix) == fastslow.PolicyPrompts.Name() { // no weights, no setting
			setting = "–"
		}
		tbl.Rows = append(tbl.Rows, []string{p, setting, fmtCI(a), fmtCI(f), fmtCI(b), fmt.Sprintf("%.0f", mean(s.steps)),
			fmt.Sprintf("%.0f", mean(s.gens)), fmt.Sprintf("%.0f", mean(s.gate)), fmt.Sprintf("%.1f", mean(s.secs)), fmt.Sprintf("%.2f", mean(s.open))})
		for k, iv := range map[string]metrics.Interval{"average_accuracy": a, "forgetting": f, "bwt": b} {
			values[p+"_"+k] = iv.Estimate
			if iv.Bounded {
				values[p+"_"+k+"_lo"], values[p+"_"+k+"_hi"] = iv.Lo, iv.Hi
			}
		}
		values[p+"_weight_steps"] = mean(s.steps)
		values[p+"_generations"] = mean(s.gens)
		values[p+"_gate_generations"] = mean(s.gate)
		values[p+"_learn_seconds"] = mean(s.secs)
		values[p+"_open_book"] = mean(s.open)
		values[p+"_lr"], values[p+"_steps_per_task"] = s.lr, float64(s.stepsPerTask)
	}
	return report.Section{
		Title: "Headline: every arm at its validation-chosen setting",
		Text: "Test accuracy, mean over seeds with its 95% bootstrap interval (clipped to the possible range). Cost per run: the weight steps the " +
			"rounds kept, the generations the server ran while learning (prompt search and promotion), the answers the forgetting gate's " +
			"retention checks generated (in the in-process engine) and the seconds spent learning (base-model answers come from a cache " +
			"the runs share, so seconds are a lower bound for the prompt-using arms; the generation counts include the cached ones). The last column is the share of the final row's right " +
			"answers whose answer string was in the served prompt: those were answered open-book, from a retrieved note, not from the weights.",
		Tables: []report.Table{tbl},
	}
}

// ablationFindings are the main effects of the three parts: each part on minus off, averaged over the four
// combinations of the other two, paired by seed.
func (r *StreamResult) ablationFindings(st map[string]*armStats) []finding {
	if len(r.Ablation) == 0 {
		return nil
	}
	var out []finding
	for _, part := range []string{"prompts", "gate", "replay"} {
		var on, off []*armStats
		for _, p := range AblationPolicies() {
			a := p.(Ablation)
			s := st[a.Name()]
			if s == nil {
				continue
			}
			isOn := map[string]bool{"prompts": a.Prompts, "gate": a.Gate, "replay": a.Replay}[part]
			if isOn {
				on = append(on, s)
			} else {
				off = append(off, s)
			}
		}
		if len(on) != 4 || len(off) != 4 {
			continue
		}
		// Per seed, the mean over the four combinations.
		avgOver := func(group []*armStats, f func(*armStats) []float64) *armStats {
			out := &armStats{seeds: group[0].seeds}
			vals := make([]float64, len(group[0].seeds))
			for _, s := range group {
				xs := f(s)
				for i := range vals {
					if i < len(xs) {
						vals[i] += xs[i] / float64(len(group))
					}
				}
			}
			out.forget, out.avg = vals, vals
			return out
		}
		fOn, fOff := avgOver(on, func(s *armStats) []float64 { return s.forget }), avgOver(off, func(s *armStats) []float64 { return s.forget })
		out = append(out, compare("ablation_"+part+"_forgetting_off_minus_on", "Does the "+part+" part reduce forgetting (ablations, same step budget)?", fOff, fOn,
			func(s *armStats) []float64 { return s.forget }, "average forgetting with it off − on, averaged over the other parts' four combinations",
			"a main effect at fst's step budget and learning rate; the parts may interact"))
		aOn, aOff := avgOver(on, func(s *armStats) []float64 { return s.avg }), avgOver(off, func(s *armStats) []float64 { return s.avg })
		out = append(out, compare("ablation_"+part+"_accuracy_on_minus_off", "Does the "+part+" part raise average accuracy (ablations)?", aOn, aOff,
			func(s *armStats) []float64 { return s.avg }, "average accuracy with it on − off, averaged over the other parts' four combinations",
			"a main effect at one setting"))
	}
	return out
}

func (r *StreamResult) ablationSection(st map[string]*armStats) report.Section {
	tbl := report.Table{Header: []string{"arm", "prompts", "gate", "replay", "average accuracy", "forgetting", "weight steps kept", "generations: prompt search", "generations: gate"}}
	for _, p := range AblationPolicies() {
		a := p.(Ablation)
		s := st[a.Name()]
		if s == nil {
			continue
		}
		tbl.Rows = append(tbl.Rows, []string{a.Name(), onOff(a.Prompts), onOff(a.Gate), onOff(a.Replay), fmtCI(ci(s.avg, 0, 1)), fmtCI(ci(s.forget, -1, 1)),
			fmt.Sprintf("%.0f", mean(s.steps)), fmt.Sprintf("%.0f", mean(s.gens)), fmt.Sprintf("%.0f", mean(s.gate))})
	}
	return report.Section{
		Title: "Ablations: prompts × retention gate × replay",
		Text: "The three parts fst combines, each on or off, every combination at the same step budget and learning rate (fst's chosen setting). " +
			"With prompts on, the weights train on the examples inside the served prompt (fst also samples prompts from " +
			"its candidate population). The answers above give each part's main effect. " + fmt.Sprintf("The ablations ran %d seeds (the headline arms %d), to keep the lab's time budget.", r.AblationSeeds, r.Seeds),
		Tables: []report.Table{tbl},
	}
}

// sweepSection shows the sweep: validation average accuracy against validation forgetting for every setting
// of every swept arm (the frontier), and which setting each arm got.
func (r *StreamResult) sweepSection() (report.Section, error) {
	T := len(r.Tasks)
	type point struct {
		s       Setting
		acc, fg float64
	}
	byArm := map[string][]point{}
	var order []string
	for _, s := range r.Sweep {
		for _, arm := range r.Arms {
			var accs, fgs []float64
			for _, run := range r.SweepRuns {
				if run.Policy != arm || run.LR != s.LR || run.Steps != s.Steps {
					continue
				}
				accs = append(accs, mustAvg(run.Matrix))
				if T > 1 {
					f, err := metrics.AverageForgetting(run.Matrix)
					if err != nil {
						return report.Section{}, err
					}
					fgs = append(fgs, f)
				}
			}
			if len(accs) == 0 {
				continue
			}
			if _, ok := byArm[arm]; !ok {
				order = append(order, arm)
			}
			fg := 0.0
			if len(fgs) > 0 {
				fg = mean(fgs)
			}
			byArm[arm] = append(byArm[arm], point{s, mean(accs), fg})
		}
	}
	lines := &report.Lines{}
	tbl := report.Table{Header: []string{"arm", "lr", "steps/task", "validation average accuracy", "validation forgetting", "chosen"}}
	values := map[string]float64{}
	for _, arm := range order {
		pts := byArm[arm]
		sort.SliceStable(pts, func(i, j int) bool { return pts[i].fg < pts[j].fg })
		s := report.Series{Name: arm}
		for _, p := range pts {
			s.X, s.Y = append(s.X, p.fg), append(s.Y, p.acc)
			chosen := ""
			if c, ok := r.Chosen[arm]; ok && c == p.s {
				chosen = "yes"
			}
			tbl.Rows = append(tbl.Rows, []string{arm, fmt.Sprintf("%g", p.s.LR), fmt.Sprint(p.s.Steps), fmt.Sprintf("%.3f", p.acc), fmt.Sprintf("%.3f", p.fg), chosen})
			values[fmt.Sprintf("%s_lr%g_steps%d_val_accuracy", arm, p.s.LR, p.s.Steps)] = p.acc
		}
		lines.Series = append(lines.Series, s)
	}
	return report.Section{
		Title: "Sweep on validation data and the accuracy–forgetting frontier",
		Text: fmt.Sprintf("Every weight-training arm ran every setting on %d seeds of the sweep's own (worlds the headline runs never see), measured on "+
			"validation splits only; the headline uses each arm's setting with the best validation average accuracy (ties: the cheaper setting, listed first). "+
			"A point further up and to the left learns more and forgets less.", len(r.SweepRuns)/max(1, len(r.Sweep)*len(order))),
		Tables: []report.Table{tbl},
		Plots: []report.Plot{{ID: "frontier", Title: "Accuracy–forgetting over the sweep: " + strings.Join(order, ", "), XLabel: "validation forgetting",
			YLabel: "validation average accuracy", Lines: lines, Refs: []report.Ref{{Y: r.Target, Label: "target accuracy"}}, Range: &[2]float64{0, 1}}},
		Values: values,
	}, nil
}

// curveSection plots mean validation accuracy (over tasks and seeds) against weight steps within a round.
func (r *StreamResult) curveSection(arms []string) (report.Section, error) {
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
	tbl := report.Table{Header: []string{"arm", "mean weight steps to reach the target, per task (– never)", "weight steps kept, whole stream"}}
	for _, p := range arms {
		var runs [][]float64
		var parts []string
		var kept float64
		n := 0
		for _, run := range r.Runs {
			if run.Policy != p {
				continue
			}
			row := make([]float64, len(xs))
			for j, x := range xs {
				total, k := 0.0, 0
				for _, c := range run.Curves {
					if v, ok := valueAt(c, int(x)); ok {
						total += v
						k++
					}
				}
				if k > 0 {
					row[j] = total / float64(k)
				}
			}
			runs = append(runs, row)
			kept += float64(sum(run.WeightSteps))
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
		if len(runs) == 0 {
			continue
		}
		s, err := report.SeriesFromRuns(p, xs, runs)
		if err != nil {
			return report.Section{}, err
		}
		lines.Series = append(lines.Series, s)
		for k := range parts {
			parts[k] = r.Tasks[k] + ": " + strings.TrimSpace(parts[k])
		}
		tbl.Rows = append(tbl.Rows, []string{p, strings.Join(parts, "; "), fmt.Sprintf("%.0f", kept/float64(max(n, 1)))})
	}
	return report.Section{
		Title: "Learning curves",
		Text: fmt.Sprintf("Validation accuracy on the task being learned against the weight steps of its round, averaged over tasks (an "+
			"arm's last value carries forward once its round has ended). Step 0 is after the prompt cycle. The target for "+
			"steps-to-target is %.2f; '–' marks a round that never reached it, counted as the arm's own step budget per task.", r.Target),
		Tables: []report.Table{tbl},
		Plots: []report.Plot{{ID: "learning-curves", Title: "Learning curves: " + strings.Join(arms, ", "), XLabel: "weight steps in the round", YLabel: "validation accuracy",
			Lines: lines, Refs: []report.Ref{{Y: r.Target, Label: "target"}}, Range: &[2]float64{0, 1}}},
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

func (r *StreamResult) generalSection(arms []string, st map[string]*armStats) report.Section {
	tbl := report.Table{Header: []string{"arm", "pretraining facts, change", "held-out prose perplexity, change", "KL to base (nats/token)", "plasticity on " + orDash(r.HeldOut)}}
	values := map[string]float64{}
	for _, p := range arms {
		s := st[p]
		if s == nil {
			continue
		}
		f, pp, kl, pl := ci(s.facts, -1, 1), ci(s.ppl, math.Inf(-1), math.Inf(1)), ci(s.kl, 0, math.Inf(1)), ci(s.plast, -1, 1)
		tbl.Rows = append(tbl.Rows, []string{p, fmtCI(f), fmtCI(pp), fmtCI(kl), fmtCI(pl)})
		values[p+"_facts_change"], values[p+"_ppl_change"], values[p+"_kl"], values[p+"_plasticity"] = f.Estimate, pp.Estimate, kl.Estimate, pl.Estimate
	}
	var before, ppl float64
	if len(r.Runs) > 0 {
		before, ppl = r.Runs[0].FactsBefore, r.Runs[0].PPLBefore
	}
	values["facts_before"], values["ppl_before"] = before, ppl
	return report.Section{
		Title: "General ability",
		Text: fmt.Sprintf("Before the stream the base model answers %.2f of the pretraining-fact probes (fill-in-the-blank facts about people no task trains on, asked raw) "+
			"and has held-out prose perplexity %.2f. The table gives the change after the stream (mean [95%% interval]), the "+
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

func summarize(xs []float64) metrics.Summary {
	s, err := metrics.Summarize(xs)
	if err != nil {
		return metrics.Summary{Mean: math.NaN()}
	}
	return s
}

func pm(s metrics.Summary) string { return pmf(s, "%+.3f", "%.3f") }

// pmf formats a summary as mean ± half-width with the verbs given, the mean alone for one value, or "–" when
// there is nothing to summarize.
func pmf(s metrics.Summary, mean, halfWidth string) string {
	if s.N == 0 || math.IsNaN(s.Mean) {
		return "–"
	}
	if s.N > 1 {
		return fmt.Sprintf(mean+" ± "+halfWidth, s.Mean, s.HalfWidth())
	}
	return fmt.Sprintf(mean, s.Mean)
}
