package main

import (
	"path/filepath"
	"strings"
	"testing"

	labreport "github.com/fastslow/fastslow/eval/report"
)

// TestLabReversibilityCommands runs each reversibility experiment alone, small, on the embedded default model,
// and checks that its report holds its plots and one verdict row.
func TestLabReversibilityCommands(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		plots []string
	}{
		{"spurious", []string{"--people", "2", "--recovery-examples", "4", "--recovery-steps", "2"}, []string{"spurious-recovery", "spurious-probe"}},
		{"cyclic", []string{"--docs", "3", "--epochs", "3", "--steps-per-doc", "1"}, []string{"cyclic-loss-cyclic", "cyclic-loss-shuffled", "cyclic-before-revisit"}},
		{"capacity", []string{"--sizes", "3,7", "--epochs", "2", "--rank", "2"}, []string{"capacity-recall", "capacity-general"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if testing.Short() && tt.name != "cyclic" {
				t.Skip("one experiment is enough in short mode")
			}
			out := filepath.Join(t.TempDir(), "report")
			args := append([]string{"lab", tt.name, "--seeds", "2", "--out", out}, tt.args...)
			stdout, stderr, code := runCLI(t, nil, args...)
			if code != 0 {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			if !strings.Contains(stdout, "wrote "+filepath.Join(out, "report.md")) || !strings.Contains(stdout, "in-process engine") {
				t.Errorf("stdout %q", stdout)
			}
			doc, err := labreport.ReadJSON(filepath.Join(out, "report.json"))
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range tt.plots {
				if _, ok := doc.Plots[id]; !ok {
					t.Errorf("no plot %s in report.json", id)
				}
			}
			if len(doc.Verdicts) != 1 {
				t.Errorf("%d verdict rows, want 1", len(doc.Verdicts))
			}
		})
	}
}

func TestLabReversibilityUsage(t *testing.T) {
	for _, args := range [][]string{
		{"lab", "capacity", "--sizes", "ten"},
		{"lab", "nonsense"},
	} {
		if _, _, code := runCLI(t, nil, args...); code == 0 {
			t.Errorf("fastslow %s: exit 0", strings.Join(args, " "))
		}
	}
}
