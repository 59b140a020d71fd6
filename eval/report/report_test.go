package report

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/fastslow/fastslow/eval/metrics"
	"gonum.org/v1/plot/plotter"
)

var testTasks = []string{"qa", "cloze", "arith", "inject"}

// seedMatrices are three seeds of a four-task stream with forgetting.
var seedMatrices = []metrics.Matrix{
	{{0.9, 0.2, 0.1, 0}, {0.7, 0.85, 0.1, 0}, {0.6, 0.7, 0.8, 0.05}, {0.5, 0.6, 0.7, 0.9}},
	{{0.8, 0.25, 0.1, 0}, {0.65, 0.8, 0.1, 0}, {0.55, 0.75, 0.85, 0.05}, {0.5, 0.65, 0.7, 0.88}},
	{{0.85, 0.2, 0.15, 0}, {0.7, 0.9, 0.1, 0}, {0.6, 0.7, 0.8, 0.05}, {0.52, 0.6, 0.75, 0.92}},
}

// testReport exercises every plot kind and option.
func testReport(t *testing.T) *Report {
	t.Helper()
	multi, err := AccuracySection("Policy fst (3 seeds)", "fst", testTasks, seedMatrices)
	if err != nil {
		t.Fatal(err)
	}
	single, err := AccuracySection("Policy weights (1 seed)", "weights", testTasks, seedMatrices[:1])
	if err != nil {
		t.Fatal(err)
	}
	x := []float64{0, 10, 20, 30}
	a, err := SeriesFromRuns("fst", x, [][]float64{{0, .3, .5, .7}, {0, .2, .5, .6}, {0, .25, .45, .7}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := SeriesFromRuns("weights", x, [][]float64{{0, .1, .3, .5}, {0, .15, .35, .45}})
	if err != nil {
		t.Fatal(err)
	}
	c := Series{Name: "", X: []float64{0, 30}, Y: []float64{0.1, 0.2}} // no error, no name
	curves := Section{
		Title: "Learning curves",
		Text:  "Accuracy on qa while training.",
		Plots: []Plot{
			{ID: "curve-band", Title: "qa (bands)", XLabel: "step", YLabel: "accuracy", Lines: &Lines{Series: []Series{a, b, c}, Band: true}, Refs: []Ref{{Y: 0.5, Label: "target"}, {Y: 0, Label: "zero"}}, Range: &[2]float64{0, 1}},
			{ID: "curve_bars", Title: "qa (bars)", XLabel: "step", YLabel: "accuracy", Lines: &Lines{Series: []Series{a, b, c}}, Range: &[2]float64{0, 1}},
			{ID: "compare", Title: "Forgetting by policy", Bars: &Bars{Categories: testTasks[:3], Groups: []BarGroup{
				{Name: "fst", Values: []float64{0.3, -0.1, 0.2}, Err: []float64{0.05, 0.02, 0.1}},
				{Name: "prompts", Values: []float64{0, 0.01, 0}},
			}}},
		},
		Tables: []Table{{Caption: "Pipes | and\nlines", Header: []string{"a|b", "c"}, Rows: [][]string{{"1\n2", "x|y"}}}},
	}
	return &Report{
		Title:    "Forgetting lab",
		Summary:  "A test report.",
		Values:   map[string]float64{"b": 2, "a": -0.25},
		Sections: []Section{multi, single, curves},
		Verdicts: []Verdict{{Question: "Is forgetting reversible?", Verdict: "partly", Evidence: "recovery 0.8 | 0.1"}},
	}
}

var shared struct {
	once sync.Once
	dir  string
	err  error
}

// TestMain removes the shared report directory after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// writeTestReport returns a directory holding testReport written by Write.
// Rendering is the slow part (especially under -race), so the read-only
// tests share one written copy.
func writeTestReport(t *testing.T) (string, *Report) {
	t.Helper()
	shared.once.Do(func() {
		if shared.dir, shared.err = os.MkdirTemp("", "report-test"); shared.err != nil {
			return
		}
		shared.err = Write(context.Background(), filepath.Join(shared.dir, "out"), testReport(t))
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return filepath.Join(shared.dir, "out"), testReport(t)
}

func TestWriteFiles(t *testing.T) {
	dir, r := writeTestReport(t)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{"report.json", "report.md"}
	for _, s := range r.Sections {
		for _, p := range s.Plots {
			want = append(want, p.ID+".png")
		}
	}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("files %v, want %v (no temporary files may remain)", names, want)
	}
	for _, n := range names {
		if !strings.HasSuffix(n, ".png") {
			continue
		}
		f, err := os.Open(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 300 {
			t.Fatalf("%s: %v is too small to read", n, b)
		}
	}
}

func TestMarkdown(t *testing.T) {
	dir, r := writeTestReport(t)
	data, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	md := string(data)
	for _, s := range r.Sections {
		for _, p := range s.Plots {
			if !strings.Contains(md, "]("+p.ID+".png)") {
				t.Errorf("report.md lacks an image link to %s.png", p.ID)
			}
		}
	}
	for _, want := range []string{
		"# Forgetting lab\n",
		"| a | -0.25 |\n| b | 2 |", // headline values, sorted by key
		"**Pipes | and lines**",
		`| a\|b | c |`,
		`| 1<br>2 | x\|y |`,
		"| Backward transfer (BWT) | ",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	// The report ends with the verdict table.
	last := md[strings.LastIndex(md, "\n## "):]
	if want := "\n## Verdict\n\n| Question | Verdict | Evidence |\n| --- | --- | --- |\n| Is forgetting reversible? | partly | recovery 0.8 \\| 0.1 |\n"; last != want {
		t.Fatalf("report ends with %q, want %q", last, want)
	}
	empty := (&Report{Title: "t"}).markdown()
	if !bytes.HasSuffix(empty, []byte("## Verdict\n\nNo verdicts were recorded.\n")) {
		t.Fatalf("empty report markdown: %q", empty)
	}
}

// TestEveryPlottedPointInJSON draws each figure and checks every number
// handed to the plotting library against report.json.
func TestEveryPlottedPointInJSON(t *testing.T) {
	dir, r := writeTestReport(t)
	doc, err := ReadJSON(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, s := range r.Sections {
		for _, p := range s.Plots {
			d, ok := doc.Plots[p.ID]
			if !ok {
				t.Fatalf("report.json lacks plot %q", p.ID)
			}
			if d.File != p.ID+".png" {
				t.Errorf("plot %q: file %q", p.ID, d.File)
			}
			f, err := buildFigure(p)
			if err != nil {
				t.Fatal(err)
			}
			checked += checkPlotted(t, p.ID, f, d)
		}
	}
	if checked < 100 {
		t.Fatalf("only %d plotted numbers checked", checked)
	}
}

type xy struct{ x, y float64 }

// checkPlotted returns how many plotted numbers it verified.
func checkPlotted(t *testing.T, id string, f *figure, d PlotData) int {
	t.Helper()
	n := 0
	points, bounds, errs := map[xy]bool{}, map[xy]bool{}, map[xy]float64{}
	total := 0
	if d.Lines != nil {
		for _, s := range d.Lines.Series {
			for j := range s.X {
				points[xy{s.X[j], s.Y[j]}] = true
				total++
				if s.Err != nil {
					bounds[xy{s.X[j], clip(d.Range, s.Y[j]+s.Err[j])}] = true
					bounds[xy{s.X[j], clip(d.Range, s.Y[j]-s.Err[j])}] = true
					errs[xy{s.X[j], s.Y[j]}] = s.Err[j]
				}
			}
		}
	}
	linePoints, bar := 0, 0
	// inPoints checks that each point of a line or of a set of markers is one of the JSON's points.
	inPoints := func(what string, xys plotter.XYs) {
		for _, p := range xys {
			if !points[xy{p.X, p.Y}] {
				t.Fatalf("%s: %s %v not in JSON", id, what, p)
			}
			n++
		}
	}
	for _, pl := range f.plotters {
		switch v := pl.(type) {
		case *plotter.HeatMap:
			c, r := v.GridXYZ.Dims()
			if r != len(d.Heatmap.Values) || c != len(d.Heatmap.Cols) {
				t.Fatalf("%s: heatmap %d×%d, JSON %d×%d", id, r, c, len(d.Heatmap.Values), len(d.Heatmap.Cols))
			}
			for i := range c {
				for j := range r {
					if v.GridXYZ.Z(i, j) != d.Heatmap.Values[j][i] || v.GridXYZ.X(i) != float64(i) || v.GridXYZ.Y(j) != float64(j) {
						t.Fatalf("%s: cell (%d,%d) = %v, JSON %v", id, j, i, v.GridXYZ.Z(i, j), d.Heatmap.Values[j][i])
					}
					n++
				}
			}
		case *plotter.Labels:
			for i, p := range v.XYs {
				want := fmt.Sprintf("%.2f", d.Heatmap.Values[int(p.Y)][int(p.X)])
				if v.Labels[i] != want {
					t.Fatalf("%s: cell label %q at %v, JSON value gives %q", id, v.Labels[i], p, want)
				}
				n++
			}
		case *plotter.Line:
			inPoints("line point", v.XYs)
			linePoints += len(v.XYs)
		case *plotter.Scatter:
			inPoints("marker", v.XYs)
		case *plotter.Polygon:
			for _, ring := range v.XYs {
				for _, p := range ring {
					if !bounds[xy{p.X, p.Y}] {
						t.Fatalf("%s: band vertex %v is not a JSON y ± err", id, p)
					}
					n++
				}
			}
		case *plotter.YErrorBars:
			for i, p := range v.XYs {
				lo, hi := v.YErrors[i].Low, v.YErrors[i].High
				if d.Lines != nil {
					e, ok := errs[xy{p.X, p.Y}]
					if !ok || lo != p.Y-clip(d.Range, p.Y-e) && lo != e || hi != clip(d.Range, p.Y+e)-p.Y && hi != e {
						t.Fatalf("%s: error bar at %v (%v, %v) not in JSON", id, p, lo, hi)
					}
				} else {
					cat := int(math.Round(p.X))
					found := false
					for _, g := range d.Bars.Groups {
						if g.Err != nil && g.Values[cat] == p.Y && (g.Err[cat] == lo || lo == p.Y-clip(d.Range, p.Y-g.Err[cat])) && (g.Err[cat] == hi || hi == clip(d.Range, p.Y+g.Err[cat])-p.Y) {
							found = true
						}
					}
					if !found {
						t.Fatalf("%s: bar error at %v (%v) not in JSON", id, p, lo)
					}
				}
				n++
			}
		case *barPlotter:
			g := d.Bars.Groups[bar]
			bar++
			for i, v := range v.Values {
				if v != g.Values[i] {
					t.Fatalf("%s: bar %d of group %q = %v, JSON %v", id, i, g.Name, v, g.Values[i])
				}
				n++
			}
			for i, x := range v.X {
				if int(math.Round(x)) != i {
					t.Fatalf("%s: bar %d drawn at x=%v, off its category", id, i, x)
				}
			}
		case *refLine:
			found := false
			for _, r := range d.Refs {
				found = found || r.Y == v.Y
			}
			if !found {
				t.Fatalf("%s: reference line at %v not in JSON", id, v.Y)
			}
			n++
		case *plotter.Grid, zeroLine:
			// Decoration: no data.
		default:
			t.Fatalf("%s: plotter %T is not checked against report.json", id, pl)
		}
	}
	if d.Lines != nil && linePoints != total {
		t.Fatalf("%s: %d line points drawn, JSON has %d", id, linePoints, total)
	}
	if d.Bars != nil && bar != len(d.Bars.Groups) {
		t.Fatalf("%s: %d bar groups drawn, JSON has %d", id, bar, len(d.Bars.Groups))
	}
	return n
}

// TestRederiveFromJSON recomputes the section metrics from the matrices saved
// in report.json and compares them with the saved values and bars.
func TestRederiveFromJSON(t *testing.T) {
	dir, _ := writeTestReport(t)
	doc, err := ReadJSON(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range doc.Sections[:2] {
		id := s.Plots[0][:strings.Index(s.Plots[0], "-")]
		heat := doc.Plots[id+"-matrix"].Heatmap
		bars := doc.Plots[id+"-forgetting"].Bars
		var seeds []metrics.Matrix
		for _, m := range s.Data["matrices"].([]any) {
			var R metrics.Matrix
			for _, row := range m.([]any) {
				var r []float64
				for _, v := range row.([]any) {
					r = append(r, v.(float64))
				}
				R = append(R, r)
			}
			seeds = append(seeds, R)
		}
		if len(seeds) == 1 && !equalMatrix(seeds[0], heat.Values, 0) {
			t.Fatalf("%s: heatmap differs from the saved matrix", id)
		}
		mean, _, err := metrics.MeanMatrix(seeds)
		if err != nil {
			t.Fatal(err)
		}
		if !equalMatrix(mean, heat.Values, 1e-12) {
			t.Fatalf("%s: heatmap is not the mean of the saved matrices", id)
		}
		var bwts, forgets []float64
		perTask := make([][]float64, len(seeds))
		for i, R := range seeds {
			bwt, _ := metrics.BWT(R)
			f, _ := metrics.Forgetting(R)
			af, _ := metrics.AverageForgetting(R)
			bwts, forgets, perTask[i] = append(bwts, bwt), append(forgets, af), f
		}
		for key, vals := range map[string][]float64{"bwt": bwts, "average_forgetting": forgets} {
			sum, _ := metrics.Summarize(vals)
			if math.Abs(s.Values[key]-sum.Mean) > 1e-12 {
				t.Errorf("%s: saved %s = %v, re-derived %v", id, key, s.Values[key], sum.Mean)
			}
			if len(seeds) > 1 && (math.Abs(s.Values[key+"_lo"]-sum.Lo) > 1e-12 || math.Abs(s.Values[key+"_hi"]-sum.Hi) > 1e-12) {
				t.Errorf("%s: saved %s interval differs from re-derived", id, key)
			}
		}
		if len(seeds) == 1 {
			// One seed: BWT from the heatmap itself.
			bwt, _ := metrics.BWT(metrics.Matrix(heat.Values))
			if math.Abs(bwt-s.Values["bwt"]) > 1e-12 {
				t.Errorf("%s: BWT from heatmap %v, saved %v", id, bwt, s.Values["bwt"])
			}
		}
		sums, _ := metrics.SummarizeRuns(perTask)
		g := bars.Groups[0]
		for i, sum := range sums {
			if math.Abs(g.Values[i]-sum.Mean) > 1e-12 {
				t.Errorf("%s: forgetting bar %d = %v, re-derived %v", id, i, g.Values[i], sum.Mean)
			}
			if len(seeds) > 1 && math.Abs(g.Err[i]-sum.HalfWidth()) > 1e-12 {
				t.Errorf("%s: forgetting error %d = %v, re-derived %v", id, i, g.Err[i], sum.HalfWidth())
			}
		}
		if len(seeds) == 1 && g.Err != nil {
			t.Errorf("%s: a single seed must not draw error bars", id)
		}
	}
	// Hand-checked anchor: seed 0 of seedMatrices has BWT
	// ((0.5−0.9) + (0.6−0.85) + (0.7−0.8)) / 3 = −0.25.
	if got := doc.Sections[1].Values["bwt"]; math.Abs(got-(-0.25)) > 1e-12 {
		t.Fatalf("single-seed BWT = %v, want -0.25", got)
	}
}

// equalMatrix reports whether a and b have the same shape and values within tol.
func equalMatrix(a metrics.Matrix, b [][]float64, tol float64) bool {
	return slices.EqualFunc(a, b, func(x, y []float64) bool {
		return slices.EqualFunc(x, y, func(u, v float64) bool { return math.Abs(u-v) <= tol })
	})
}

func TestDeterministic(t *testing.T) {
	dirA, r := writeTestReport(t)
	dirB := t.TempDir()
	if err := Write(context.Background(), dirB, r); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dirA)
	for _, e := range entries {
		a, _ := os.ReadFile(filepath.Join(dirA, e.Name()))
		b, err := os.ReadFile(filepath.Join(dirB, e.Name()))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs between two writes of the same report", e.Name())
		}
	}
}

func TestOverwrite(t *testing.T) {
	dir := t.TempDir()
	r := &Report{Title: "First run", Sections: []Section{{Title: "s", Plots: []Plot{{ID: "p", Bars: &Bars{Categories: []string{"a"}, Groups: []BarGroup{{Values: []float64{1}}}}}}}}}
	if err := Write(context.Background(), dir, r); err != nil {
		t.Fatal(err)
	}
	r.Title = "Second run"
	if err := Write(context.Background(), dir, r); err != nil {
		t.Fatal(err)
	}
	doc, err := ReadJSON(filepath.Join(dir, "report.json"))
	if err != nil || doc.Title != "Second run" {
		t.Fatalf("report.json after overwrite: %v, %v", doc, err)
	}
}

func TestValidate(t *testing.T) {
	heat := func() *Heatmap {
		return &Heatmap{Rows: []string{"a", "b"}, Cols: []string{"x", "y"}, Values: [][]float64{{1, 2}, {3, 4}}}
	}
	line := func() *Lines { return &Lines{Series: []Series{{X: []float64{0, 1}, Y: []float64{1, 2}}}} }
	withPlot := func(p Plot) *Report { return &Report{Title: "t", Sections: []Section{{Title: "s", Plots: []Plot{p}}}} }
	tests := []struct {
		name string
		r    *Report
		want string
	}{
		{"ok", withPlot(Plot{ID: "ok", Heatmap: heat()}), ""},
		{"no title", &Report{}, "empty title"},
		{"section without title", &Report{Title: "t", Sections: []Section{{}}}, "empty title"},
		{"NaN headline", &Report{Title: "t", Values: map[string]float64{"x": math.NaN()}}, `"x"`},
		{"Inf section value", &Report{Title: "t", Sections: []Section{{Title: "s", Values: map[string]float64{"y": math.Inf(1)}}}}, `"y"`},
		{"bad id", withPlot(Plot{ID: "Bad/ID", Heatmap: heat()}), "must match"},
		{"empty id", withPlot(Plot{Heatmap: heat()}), "must match"},
		{"duplicate id", &Report{Title: "t", Sections: []Section{{Title: "s", Plots: []Plot{{ID: "a", Heatmap: heat()}}}, {Title: "u", Plots: []Plot{{ID: "a", Lines: line()}}}}}, "duplicate"},
		{"no kind", withPlot(Plot{ID: "a"}), "exactly one"},
		{"two kinds", withPlot(Plot{ID: "a", Heatmap: heat(), Lines: line()}), "exactly one"},
		{"ragged heatmap", withPlot(Plot{ID: "a", Heatmap: &Heatmap{Rows: []string{"a", "b"}, Cols: []string{"x", "y"}, Values: [][]float64{{1, 2}, {3}}}}), "row 1"},
		{"heatmap label count", withPlot(Plot{ID: "a", Heatmap: &Heatmap{Rows: []string{"a"}, Cols: []string{"x", "y"}, Values: [][]float64{{1, 2}, {3, 4}}}}), "row labels"},
		{"heatmap NaN", withPlot(Plot{ID: "a", Heatmap: &Heatmap{Rows: []string{"a"}, Cols: []string{"x"}, Values: [][]float64{{math.NaN()}}}}), "NaN"},
		{"heatmap scale", withPlot(Plot{ID: "a", Heatmap: &Heatmap{Rows: []string{"a"}, Cols: []string{"x"}, Values: [][]float64{{1}}, Min: 1, Max: 0}}), "colour scale"},
		{"no series", withPlot(Plot{ID: "a", Lines: &Lines{}}), "no series"},
		{"x y mismatch", withPlot(Plot{ID: "a", Lines: &Lines{Series: []Series{{X: []float64{0, 1}, Y: []float64{1}}}}}), "series 0"},
		{"err mismatch", withPlot(Plot{ID: "a", Lines: &Lines{Series: []Series{{X: []float64{0}, Y: []float64{1}, Err: []float64{1, 2}}}}}), "series 0"},
		{"negative err", withPlot(Plot{ID: "a", Lines: &Lines{Series: []Series{{X: []float64{0}, Y: []float64{1}, Err: []float64{-1}}}}}), "negative"},
		{"Inf y", withPlot(Plot{ID: "a", Lines: &Lines{Series: []Series{{X: []float64{0}, Y: []float64{math.Inf(-1)}}}}}), "Inf"},
		{"bars mismatch", withPlot(Plot{ID: "a", Bars: &Bars{Categories: []string{"a", "b"}, Groups: []BarGroup{{Values: []float64{1}}}}}), "bar group 0"},
		{"bars empty", withPlot(Plot{ID: "a", Bars: &Bars{Categories: []string{"a"}}}), "groups"},
		{"table ragged", &Report{Title: "t", Sections: []Section{{Title: "s", Tables: []Table{{Header: []string{"a", "b"}, Rows: [][]string{{"1"}}}}}}}, "row 0 has 1 cells"},
		{"table no header", &Report{Title: "t", Sections: []Section{{Title: "s", Tables: []Table{{}}}}}, "empty header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.r.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.want)
			}
			// An invalid report writes nothing.
			dir := filepath.Join(t.TempDir(), "out")
			if err := Write(context.Background(), dir, tt.r); err == nil {
				t.Fatal("Write accepted an invalid report")
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Fatal("Write created the output directory for an invalid report")
			}
		})
	}
}

func TestWriteErrors(t *testing.T) {
	r := testReport(t)
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	if err := Write(context.Background(), file, r); err == nil {
		t.Error("Write into a regular file succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := filepath.Join(t.TempDir(), "out")
	if err := Write(ctx, dir, r); err == nil {
		t.Error("Write with a canceled context succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "report.md")); !os.IsNotExist(err) {
		t.Error("a canceled Write left a report.md")
	}
	bad := &Report{Title: "t", Sections: []Section{{Title: "s", Data: map[string]any{"f": func() {}}}}}
	out := filepath.Join(t.TempDir(), "o")
	if err := Write(context.Background(), out, bad); err == nil || !strings.Contains(err.Error(), "report.json") {
		t.Errorf("Write with unencodable data: %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Error("Write with unencodable data created files")
	}
}

func TestSeriesFromRuns(t *testing.T) {
	one, err := SeriesFromRuns("a", []float64{1, 2}, [][]float64{{3, 4}})
	if err != nil || one.Err != nil || !slices.Equal(one.Y, []float64{3, 4}) {
		t.Fatalf("one run: %+v, %v", one, err)
	}
	two, err := SeriesFromRuns("b", []float64{1, 2}, [][]float64{{2, 4}, {4, 4}})
	// Half-width: t(0.975, 1)·√2/√2 = 12.706…
	if err != nil || !slices.Equal(two.Y, []float64{3, 4}) || math.Abs(two.Err[0]-12.706204736174698) > 1e-9 || two.Err[1] != 0 {
		t.Fatalf("two runs: %+v, %v", two, err)
	}
	if _, err := SeriesFromRuns("c", []float64{1}, [][]float64{{2, 4}}); err == nil {
		t.Error("x/run length mismatch accepted")
	}
	if _, err := SeriesFromRuns("d", nil, nil); err == nil {
		t.Error("no runs accepted")
	}
}

func TestAccuracySectionErrors(t *testing.T) {
	tests := []struct {
		name  string
		tasks []string
		ms    []metrics.Matrix
	}{
		{"no matrices", testTasks, nil},
		{"task count", testTasks[:3], seedMatrices},
		{"one task", []string{"a"}, []metrics.Matrix{{{1}}}},
		{"size mismatch", testTasks, []metrics.Matrix{seedMatrices[0], {{1, 0}, {0, 1}}}},
		{"NaN", []string{"a", "b"}, []metrics.Matrix{{{1, math.NaN()}, {0, 1}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := AccuracySection("s", "id", tt.tasks, tt.ms); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestHeatPalette(t *testing.T) {
	p := newHeatPalette(101)
	if p[0] != ylGnBu[0] || p[100] != ylGnBu[len(ylGnBu)-1] {
		t.Fatalf("palette ends %v %v", p[0], p[100])
	}
	// Darkening throughout, so label contrast flips once.
	for i := 1; i < len(p); i++ {
		if luminance(p[i]) > luminance(p[i-1])+1e-9 {
			t.Fatalf("luminance rises at %d", i)
		}
	}
}

// TestNoStalePlots reproduces issue 14 item 13's stale figures: a report written over an earlier one into the
// same directory removes the earlier report's figures it does not have, and only those (a user's PNG stays).
func TestNoStalePlots(t *testing.T) {
	dir := t.TempDir()
	bars := &Bars{Categories: []string{"a"}, Groups: []BarGroup{{Values: []float64{1}}}}
	first := &Report{Title: "First run", Sections: []Section{{Title: "s", Plots: []Plot{{ID: "kept", Bars: bars}, {ID: "gone", Bars: bars}}}}}
	if err := Write(context.Background(), dir, first); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mine.png"), []byte("a user's file"), 0o644); err != nil {
		t.Fatal(err)
	}
	second := &Report{Title: "Second run", Sections: []Section{{Title: "s", Plots: []Plot{{ID: "kept", Bars: bars}, {ID: "new", Bars: bars}}}}}
	if err := Write(context.Background(), dir, second); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"kept.png": true, "new.png": true, "mine.png": true, "gone.png": false} {
		if _, err := os.Stat(filepath.Join(dir, name)); (err == nil) != want {
			t.Errorf("%s: present %v, want %v", name, err == nil, want)
		}
	}
}
