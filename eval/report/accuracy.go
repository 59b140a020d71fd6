package report

import (
	"errors"
	"fmt"

	"github.com/fastslow/fastslow/eval/metrics"
)

// SeriesFromRuns summarizes runs pointwise into one line: runs[s][j] is the
// value at x[j] in run s (one run per seed). Y is the mean and Err the half
// width of the 95% interval; with a single run Err is nil.
func SeriesFromRuns(name string, x []float64, runs [][]float64) (Series, error) {
	sums, err := metrics.SummarizeRuns(runs)
	if err != nil {
		return Series{}, fmt.Errorf("report: series %q: %w", name, err)
	}
	if len(sums) != len(x) {
		return Series{}, fmt.Errorf("report: series %q: %d x values for runs of %d points", name, len(x), len(sums))
	}
	s := Series{Name: name, X: append([]float64(nil), x...), Y: make([]float64, len(x))}
	if len(runs) > 1 {
		s.Err = make([]float64, len(x))
	}
	for j, sum := range sums {
		s.Y[j] = sum.Mean
		if s.Err != nil {
			s.Err[j] = sum.HalfWidth()
		}
	}
	return s, nil
}

// AccuracySection builds the standard section for a task stream: a heatmap
// of the accuracy matrix (mean over seeds), a bar chart of forgetting per
// task, and a table of average accuracy, BWT, average forgetting and
// plasticity with 95% intervals across seeds. matrices holds one T×T
// accuracy matrix per seed, tasks the T task names in stream order, and id
// prefixes the plot IDs (<id>-matrix, <id>-forgetting).
//
// The section's Values hold each metric's mean (and, with several seeds,
// its interval as <name>_lo and <name>_hi); its Data holds the tasks and
// every per-seed matrix, so all numbers can be re-derived from report.json.
func AccuracySection(title, id string, tasks []string, matrices []metrics.Matrix) (Section, error) {
	if len(matrices) == 0 {
		return Section{}, errors.New("report: accuracy section: no accuracy matrices")
	}
	mean, _, err := metrics.MeanMatrix(matrices)
	if err != nil {
		return Section{}, fmt.Errorf("report: accuracy section: %w", err)
	}
	T := len(mean)
	if len(tasks) != T {
		return Section{}, fmt.Errorf("report: accuracy section: %d task names for %d×%d matrices", len(tasks), T, T)
	}
	if T < 2 {
		return Section{}, errors.New("report: accuracy section: a stream needs at least 2 tasks")
	}
	type metric struct {
		key, label string
		f          func(metrics.Matrix) (float64, error)
	}
	defs := []metric{
		{"average_accuracy", "Average accuracy (last row)", metrics.AverageAccuracy},
		{"bwt", "Backward transfer (BWT)", metrics.BWT},
		{"average_forgetting", "Average forgetting", metrics.AverageForgetting},
		{"plasticity", "Plasticity (mean of diagonal)", metrics.Plasticity},
	}
	n := len(matrices)
	sec := Section{
		Title: title,
		Text: "R[k][i] is the accuracy on task i after training on task k. " +
			"BWT is the mean over i < T−1 of R[T−1][i] − R[i][i]; forgetting of task i is " +
			"max over k < T−1 of R[k][i] − R[T−1][i]; plasticity is the mean of R[i][i].",
		Values: map[string]float64{},
		Data:   map[string]any{"tasks": tasks, "matrices": matrices},
	}
	table := Table{Header: []string{"Metric", "Mean", "95% interval", "Seeds"}}
	for _, d := range defs {
		vals := make([]float64, n)
		for s, m := range matrices {
			if vals[s], err = d.f(m); err != nil {
				return Section{}, fmt.Errorf("report: accuracy section: seed %d: %w", s, err)
			}
		}
		sum, err := metrics.Summarize(vals)
		if err != nil {
			return Section{}, fmt.Errorf("report: accuracy section: %s: %w", d.key, err)
		}
		sec.Values[d.key] = sum.Mean
		interval := "—"
		if n > 1 {
			sec.Values[d.key+"_lo"], sec.Values[d.key+"_hi"] = sum.Lo, sum.Hi
			interval = fmt.Sprintf("[%s, %s]", FormatNumber(sum.Lo), FormatNumber(sum.Hi))
		}
		table.Rows = append(table.Rows, []string{d.label, FormatNumber(sum.Mean), interval, fmt.Sprint(n)})
	}
	sec.Tables = []Table{table}

	rows := make([]string, T)
	for k, t := range tasks {
		rows[k] = "after " + t
	}
	heatTitle := "Accuracy after each task"
	if n > 1 {
		heatTitle += fmt.Sprintf(" (mean of %d seeds)", n)
	}
	sec.Plots = append(sec.Plots, Plot{
		ID: id + "-matrix", Title: heatTitle, XLabel: "evaluated task", YLabel: "trained through",
		Caption: "Row k, column i: accuracy on task i after training on task k.",
		Heatmap: &Heatmap{Rows: rows, Cols: append([]string(nil), tasks...), Values: mean, Min: 0, Max: 1},
	})

	perSeed := make([][]float64, n)
	for s, m := range matrices {
		perSeed[s], _ = metrics.Forgetting(m) // Valid: checked above.
	}
	forget, err := SeriesFromRuns("forgetting", make([]float64, T-1), perSeed)
	if err != nil {
		return Section{}, err
	}
	caption := "Best earlier accuracy minus final accuracy, per task."
	if n > 1 {
		caption += " Error bars: 95% interval across seeds."
	}
	sec.Plots = append(sec.Plots, Plot{
		ID: id + "-forgetting", Title: "Forgetting per task", YLabel: "forgetting (drop in accuracy)",
		Caption: caption,
		Bars:    &Bars{Categories: append([]string(nil), tasks[:T-1]...), Groups: []BarGroup{{Values: forget.Y, Err: forget.Err}}},
	})
	return sec, nil
}
