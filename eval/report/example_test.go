package report_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/fastslow/fastslow/eval/metrics"
	"github.com/fastslow/fastslow/eval/report"
)

func ExampleWrite() {
	tasks := []string{"qa", "cloze", "inject"}
	// One accuracy matrix per seed: R[k][i] is the accuracy on task i after
	// training on task k.
	seeds := []metrics.Matrix{
		{{0.90, 0.10, 0.00}, {0.70, 0.85, 0.05}, {0.60, 0.75, 0.90}},
		{{0.88, 0.12, 0.00}, {0.72, 0.80, 0.05}, {0.55, 0.70, 0.92}},
	}
	stream, err := report.AccuracySection("Policy weights", "weights", tasks, seeds)
	if err != nil {
		log.Fatal(err)
	}
	curve, err := report.SeriesFromRuns("weights", []float64{0, 50, 100},
		[][]float64{{0, 0.6, 0.9}, {0, 0.5, 0.92}})
	if err != nil {
		log.Fatal(err)
	}
	stream.Plots = append(stream.Plots, report.Plot{
		ID: "inject-curve", Title: "Learning inject", XLabel: "step", YLabel: "accuracy",
		Lines: &report.Lines{Series: []report.Series{curve}, Band: true},
	})
	r := &report.Report{
		Title:    "Forgetting lab",
		Sections: []report.Section{stream},
		Verdicts: []report.Verdict{{
			Question: "Does training on new facts erase old ones?",
			Verdict:  "partly",
			Evidence: fmt.Sprintf("BWT %.3f", stream.Values["bwt"]),
		}},
	}

	dir, err := os.MkdirTemp("", "report-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := report.Write(context.Background(), dir, r); err != nil {
		log.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		fmt.Println(filepath.Base(f))
	}
	doc, err := report.ReadJSON(filepath.Join(dir, "report.json"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(doc.Plots["weights-matrix"].Heatmap.Values[2])
	// Output:
	// inject-curve.png
	// report.json
	// report.md
	// weights-forgetting.png
	// weights-matrix.png
	// [0.575 0.725 0.91]
}
