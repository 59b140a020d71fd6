package lab

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/fastslow/fastslow/eval/report"
	"github.com/fastslow/fastslow/weights"
)

// The reversibility experiments' tests (cyclic, spurious, capacity) share these checks.

// reporter is an experiment's result: it builds its report.
type reporter interface {
	Report(name, model string) (*report.Report, error)
}

// writtenReport builds the report of an experiment's result, writes it like the lab command does and reads
// report.json back, so that a test checks the numbers a reader gets.
func writtenReport(ctx context.Context, t *testing.T, res reporter, name string) *report.Document {
	t.Helper()
	rep, err := res.Report(name, "tiny")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := report.Write(ctx, dir, rep); err != nil {
		t.Fatal(err)
	}
	doc, err := report.ReadJSON(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// linePlot returns the line plot id of a written report, failing t unless it is there with series lines.
func linePlot(t *testing.T, doc *report.Document, id string, series int) *report.Lines {
	t.Helper()
	lines := doc.Plots[id].Lines
	if lines == nil || len(lines.Series) != series {
		t.Fatalf("plot %s: %+v, want %d line series", id, doc.Plots[id], series)
	}
	return lines
}

// baseUnchanged records m's logits on a sentence now; the check it returns fails its test if they differ then
// (an experiment that trains the base in place must hand it back unchanged).
func baseUnchanged(t *testing.T, m *weights.Model) (check func(*testing.T)) {
	t.Helper()
	probe := m.Tokenizer.Encode("Alia Brenn was born in Veltmor.", true)
	before, err := m.Logits(probe, nil)
	if err != nil {
		t.Fatal(err)
	}
	return func(t *testing.T) {
		t.Helper()
		after, err := m.Logits(probe, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(before, after) {
			t.Fatal("the base model changed")
		}
	}
}

// rejects runs an experiment on each case of options and fails t for each it accepts.
func rejects[O, R any](t *testing.T, experiment func(context.Context, O) (R, error), cases map[string]O) {
	t.Helper()
	for name, opt := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := experiment(context.Background(), opt); err == nil {
				t.Error("no error")
			}
		})
	}
}
