package lab

import (
	"fmt"
	"math"
	"slices"

	"github.com/fastslow/fastslow/eval/metrics"
	"github.com/fastslow/fastslow/eval/report"
	"github.com/fastslow/fastslow/fastslow"
)

// ChannelDrop splits how far the earlier tasks fell during a stream by the channel that changed. For each task
// i but the last, the drop is R[i][i] − R[T−1][i]: its test accuracy just after it was learned minus at the
// end. Two more measurements at the end of the stream split it:
//   - Weights is the drop with only the weights changed: task i's questions served with the prompts they were
//     served with just after task i was learned, and the final adapter;
//   - Prompt is the drop with only the prompt changed: the final prompts (later tasks' notes, demos and
//     lessons now in the shared prompt) with the adapter of the time.
//
// Total − Weights − Prompt is the channels' interaction. Each is the mean over the earlier tasks.
type ChannelDrop struct {
	Total   float64 `json:"total"`
	Weights float64 `json:"weights"`
	Prompt  float64 `json:"prompt"`
}

// servedState is what a task's test questions were served with: their rendered prompts and the adapter's
// handle on the server.
type servedState struct {
	prompts []string
	handle  string
}

// channelDrops measures the ChannelDrop of a run: R its accuracy matrix, then[i] what task i was served with
// just after it was learned, final[i] the prompts it was served at the end with finalHandle, and score the
// accuracy of the questions served with the given prompts and adapter. A measurement whose prompts and
// adapter are those of the end (or of the time) is not repeated: it is R's.
func channelDrops(R metrics.Matrix, tasks []Task, pick func(Task) []fastslow.Example, then []servedState, final [][]string, finalHandle string,
	score func(ex []fastslow.Example, prompts []string, handle string) (float64, error)) (*ChannelDrop, error) {
	T := len(tasks)
	if T < 2 || len(R) != T || len(then) != T || len(final) != T {
		return nil, fmt.Errorf("channel split: %d tasks, %d rows", T, len(R))
	}
	var d ChannelDrop
	for i := range T - 1 {
		ex := pick(tasks[i])
		if len(then[i].prompts) != len(ex) || len(final[i]) != len(ex) {
			return nil, fmt.Errorf("channel split: task %s: %d questions, %d then, %d at the end", tasks[i].Name, len(ex), len(then[i].prompts), len(final[i]))
		}
		learned, end := R[i][i], R[T-1][i]
		onlyWeights, onlyPrompt := end, learned
		var err error
		switch {
		case then[i].handle == finalHandle:
			onlyWeights = learned // the weights did not change
		case !slices.Equal(then[i].prompts, final[i]):
			if onlyWeights, err = score(ex, then[i].prompts, finalHandle); err != nil {
				return nil, fmt.Errorf("channel split: %s with its prompts of the time: %w", tasks[i].Name, err)
			}
		}
		switch {
		case slices.Equal(then[i].prompts, final[i]):
			onlyPrompt = learned // the prompts did not change
		case then[i].handle != finalHandle:
			if onlyPrompt, err = score(ex, final[i], then[i].handle); err != nil {
				return nil, fmt.Errorf("channel split: %s with its adapter of the time: %w", tasks[i].Name, err)
			}
		default:
			onlyPrompt = end
		}
		n := float64(T - 1)
		d.Total += (learned - end) / n
		d.Weights += (learned - onlyWeights) / n
		d.Prompt += (learned - onlyPrompt) / n
	}
	return &d, nil
}

// isAblation reports whether p is one of the ablation policies.
func isAblation(p fastslow.Policy) bool {
	_, ok := p.(Ablation)
	return ok
}

// channelSection reports each arm's ChannelDrop (mean [95% interval] over seeds) and answers, for fst, whether
// its earlier tasks fell more through the prompt channel than through the weights.
func (r *StreamResult) channelSection(arms []string) (report.Section, []finding) {
	tbl := report.Table{Header: []string{"arm", "seeds", "drop after learning (total)", "weights changed alone", "prompt changed alone", "interaction"}}
	values := map[string]float64{}
	var findings []finding
	for _, name := range arms {
		var total, w, p, inter []float64
		for _, run := range r.Runs {
			if run.Policy != name || run.Channels == nil {
				continue
			}
			c := run.Channels
			total, w, p = append(total, c.Total), append(w, c.Weights), append(p, c.Prompt)
			inter = append(inter, c.Total-c.Weights-c.Prompt)
		}
		if len(total) == 0 {
			continue
		}
		ivs := []metrics.Interval{ci(total, -1, 1), ci(w, -1, 1), ci(p, -1, 1), ci(inter, -2, 2)}
		row := []string{name, fmt.Sprint(len(total))}
		for k, key := range []string{"total", "weights", "prompt", "interaction"} {
			row = append(row, fmtCI(ivs[k]))
			v := slug(name) + "_drop_" + key
			values[v] = ivs[k].Estimate
			if ivs[k].Bounded {
				values[v+"_lo"], values[v+"_hi"] = ivs[k].Lo, ivs[k].Hi
			}
		}
		tbl.Rows = append(tbl.Rows, row)
		if name != fastslow.PolicyFST.Name() {
			continue
		}
		f := finding{key: "fst_drop_prompt_minus_weights", question: "Does fst's forgetting come more through its prompt channel than through its weights?",
			limits: "the two one-channel measurements do not add up to the total when the channels interact (see the table)"}
		iv, err := metrics.BootstrapDiff(p, w, true, 1)
		if err != nil {
			f.verdict, f.iv, f.evidence = metrics.Inconclusive, metrics.Interval{Estimate: math.NaN()}, err.Error()
		} else {
			f.verdict, f.iv = metrics.Decide(iv), iv
			f.evidence = fmt.Sprintf("earlier tasks' drop from just after learning to the end of the stream, with only the prompt changed − with only the weights changed: "+
				"difference %s over %d seeds (means %.3f vs %.3f; total drop %.3f)", fmtCI(iv), len(p), mean(p), mean(w), mean(total))
		}
		findings = append(findings, f)
	}
	return report.Section{
		Title: "Where the forgetting comes from: prompt channel or weights",
		Text: "For arms with both channels: each earlier task's drop from its test accuracy just after it was learned to the end of the stream, " +
			"and the same drop with only one channel changed — served with the prompts of the time and the final adapter (the weights changed alone), " +
			"or with the final prompts (later tasks' notes, demos and lessons in the one shared prompt) and the adapter of the time (the prompt changed alone). " +
			"Mean over the earlier tasks, then mean [95% interval] over seeds; the interaction is the total minus both. Under a per-task prompt a task's " +
			"prompt does not change after its round, so its drop is the weights' alone.",
		Tables: []report.Table{tbl},
		Values: values,
	}, findings
}
