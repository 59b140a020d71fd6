package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	labreport "github.com/fastslow/fastslow/eval/report"
)

// labReportDir holds the committed output of the one command the README's lab figures come from
// (`fastslow lab --out docs/lab`).
const labReportDir = "../../docs/lab"

// readmeFigure is a figure in the README followed by the report.json value it quotes: "0.52<!--v:key-->" is
// Values[key] printed with %.3g, "0.52 [0.47, 0.58]<!--ci:key-->" is Values[key] with Values[key_lo] and
// Values[key_hi]. A key "name/key" is read from the report of `fastslow lab name --out docs/lab/name`.
var readmeFigure = regexp.MustCompile(`([^\s(|]+(?: \[[^\]]*\])?)<!--(v|ci):([a-z0-9_:+.-]+(?:/[a-z0-9_:+.-]+)?)-->`)

// reportValues reads a committed report.json's values, its sections' included.
func reportValues(t *testing.T, dir string) map[string]float64 {
	t.Helper()
	doc, err := labreport.ReadJSON(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]float64{}
	for k, v := range doc.Values {
		values[k] = v
	}
	for _, s := range doc.Sections {
		for k, v := range s.Values {
			if _, ok := values[k]; !ok {
				values[k] = v
			}
		}
	}
	return values
}

// TestREADMEFiguresMatchReport checks every marked figure of the README against the committed report.json of
// the run it comes from.
func TestREADMEFiguresMatchReport(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	reports := map[string]map[string]float64{"": reportValues(t, labReportDir)}
	found := readmeFigure.FindAllSubmatch(readme, -1)
	if len(found) < 10 {
		t.Fatalf("the README marks %d figures from the lab's report; want its lab section's figures marked", len(found))
	}
	for _, m := range found {
		shown, kind, key := string(m[1]), string(m[2]), string(m[3])
		name, _, _ := strings.Cut(key, "/")
		if !strings.Contains(key, "/") {
			name = ""
		}
		values := reports[name]
		if values == nil {
			values = reportValues(t, filepath.Join(labReportDir, name))
			reports[name] = values
		}
		key = strings.TrimPrefix(key, name+"/")
		v, ok := values[key]
		if !ok {
			t.Errorf("README quotes %q as %s, which report.json does not have", shown, key)
			continue
		}
		want := fmt.Sprintf("%.3g", v)
		if kind == "ci" {
			lo, okLo := values[key+"_lo"]
			hi, okHi := values[key+"_hi"]
			if !okLo || !okHi {
				t.Errorf("README quotes an interval for %s, report.json has none", key)
				continue
			}
			want = fmt.Sprintf("%.3g [%.3g, %.3g]", v, lo, hi)
		}
		if shown != want {
			t.Errorf("README shows %s = %q, report.json gives %q", key, shown, want)
		}
	}
}
