// Package report writes the forgetting lab's reports: report.md (Markdown
// text, tables, images and a closing verdict table), one PNG per plot, and
// report.json, which holds every number that is plotted so that any figure
// can be checked or redrawn from the JSON alone.
//
// Rendering is deterministic: the same Report gives byte-identical files.
package report

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Report is a whole report.
type Report struct {
	// Title is the report's heading.
	Title string
	// Summary is Markdown shown under the title.
	Summary string
	// Values are headline numbers (for example BWT per policy), listed in a
	// table after the summary and stored exactly in report.json.
	Values map[string]float64
	// Sections follow in order.
	Sections []Section
	// Verdicts form the closing table; the report always ends with it.
	Verdicts []Verdict
}

// Section is one part of a report: text, then tables, then plots.
type Section struct {
	Title string
	// Text is Markdown.
	Text   string
	Tables []Table
	Plots  []Plot
	// Values are the exact numbers behind the section's text and tables;
	// they are stored in report.json, not rendered.
	Values map[string]float64
	// Data is raw data behind the section (for example per-seed accuracy
	// matrices), stored in report.json as is; it must be JSON-encodable.
	Data map[string]any
}

// Table is a Markdown table. Rows must have as many cells as Header.
type Table struct {
	Caption string     `json:"caption,omitempty"`
	Header  []string   `json:"header"`
	Rows    [][]string `json:"rows"`
}

// Verdict answers one question the report set out to settle.
type Verdict struct {
	Question string `json:"question"`
	Verdict  string `json:"verdict"`
	Evidence string `json:"evidence"`
}

// Plot is one figure. Exactly one of Heatmap, Lines and Bars is set.
type Plot struct {
	// ID names the figure: the PNG is <ID>.png and report.json keys the
	// figure's data by ID. IDs are lower-case letters, digits, '-' and '_',
	// unique within a report.
	ID      string
	Title   string
	XLabel  string
	YLabel  string
	Caption string // Markdown shown under the image

	Heatmap *Heatmap
	Lines   *Lines
	Bars    *Bars

	// Refs are horizontal reference lines drawn across a line or bar plot: a target, zero, chance.
	Refs []Ref
	// Range, if set, is the possible range of the y values (for an accuracy [0, 1]): error bars and bands are
	// clipped to it, so no interval is drawn where no value can be.
	Range *[2]float64
}

// Ref is a horizontal reference line at Y, named in the legend.
type Ref struct {
	Y     float64 `json:"y"`
	Label string  `json:"label"`
}

// Heatmap is a matrix drawn as coloured cells, each labelled with its value.
type Heatmap struct {
	Rows   []string    `json:"rows"`   // labels, top to bottom
	Cols   []string    `json:"cols"`   // labels, left to right
	Values [][]float64 `json:"values"` // Values[r][c]
	// Min and Max fix the colour scale (for accuracies, 0 and 1). When
	// both are zero the scale spans the data.
	Min float64 `json:"min"`
	Max float64 `json:"max"`
	// Format is the fmt verb for cell labels; empty means "%.2f".
	Format string `json:"format,omitempty"`
}

// Lines is a line plot, for instance learning curves.
type Lines struct {
	Series []Series `json:"series"`
	// Band draws each series' Err as a shaded band; otherwise as error bars.
	Band bool `json:"band"`
}

// Series is one line. Err, if set, is a symmetric half-width per point
// (for example a 95% interval across seeds); see SeriesFromRuns.
type Series struct {
	Name string    `json:"name"`
	X    []float64 `json:"x"`
	Y    []float64 `json:"y"`
	Err  []float64 `json:"err,omitempty"`
}

// Bars is a bar chart with one bar per category and group, for instance
// forgetting per task (categories) for each policy (groups).
type Bars struct {
	Categories []string   `json:"categories"`
	Groups     []BarGroup `json:"groups"`
}

// BarGroup is one set of bars, one per category, sharing a colour.
type BarGroup struct {
	Name   string    `json:"name"`
	Values []float64 `json:"values"`
	Err    []float64 `json:"err,omitempty"` // symmetric half-widths
}

// kind returns the plot's kind, checking that exactly one is set.
func (p Plot) kind() (string, error) {
	n, k := 0, ""
	if p.Heatmap != nil {
		n, k = n+1, "heatmap"
	}
	if p.Lines != nil {
		n, k = n+1, "lines"
	}
	if p.Bars != nil {
		n, k = n+1, "bars"
	}
	if n != 1 {
		return "", fmt.Errorf("plot %q: exactly one of Heatmap, Lines and Bars must be set, got %d", p.ID, n)
	}
	return k, nil
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// Validate checks that r can be written: plot IDs are well formed and
// unique, data shapes agree, every number is finite (JSON cannot hold NaN
// or infinities), and tables are rectangular.
func (r *Report) Validate() error {
	if r.Title == "" {
		return errors.New("report: empty title")
	}
	if err := finiteValues("report values", r.Values); err != nil {
		return err
	}
	ids := map[string]bool{}
	for si, s := range r.Sections {
		where := fmt.Sprintf("section %d (%q)", si, s.Title)
		if s.Title == "" {
			return fmt.Errorf("report: %s: empty title", where)
		}
		if err := finiteValues(where+" values", s.Values); err != nil {
			return err
		}
		for ti, t := range s.Tables {
			if err := t.validate(); err != nil {
				return fmt.Errorf("report: %s: table %d: %w", where, ti, err)
			}
		}
		for _, p := range s.Plots {
			if !idPattern.MatchString(p.ID) {
				return fmt.Errorf("report: %s: plot id %q must match %s", where, p.ID, idPattern)
			}
			if ids[p.ID] {
				return fmt.Errorf("report: %s: duplicate plot id %q", where, p.ID)
			}
			ids[p.ID] = true
			if err := p.validate(); err != nil {
				return fmt.Errorf("report: %s: %w", where, err)
			}
		}
	}
	return nil
}

func (t Table) validate() error {
	if len(t.Header) == 0 {
		return errors.New("empty header")
	}
	for i, row := range t.Rows {
		if len(row) != len(t.Header) {
			return fmt.Errorf("row %d has %d cells, header has %d", i, len(row), len(t.Header))
		}
	}
	return nil
}

func (p Plot) validate() error {
	kind, err := p.kind()
	if err != nil {
		return err
	}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("plot %q: %s", p.ID, fmt.Sprintf(format, a...))
	}
	for _, r := range p.Refs {
		if err := finite([]float64{r.Y}); err != nil {
			return fail("reference line %q: %v", r.Label, err)
		}
	}
	if p.Range != nil && (finite(p.Range[:]) != nil || p.Range[0] >= p.Range[1]) {
		return fail("range %v is invalid", *p.Range)
	}
	if (len(p.Refs) > 0 || p.Range != nil) && kind == "heatmap" {
		return fail("a heatmap takes no reference lines or range")
	}
	switch kind {
	case "heatmap":
		h := p.Heatmap
		if len(h.Rows) == 0 || len(h.Cols) == 0 {
			return fail("heatmap needs row and column labels")
		}
		if len(h.Values) != len(h.Rows) {
			return fail("heatmap has %d rows of values for %d row labels", len(h.Values), len(h.Rows))
		}
		for r, row := range h.Values {
			if len(row) != len(h.Cols) {
				return fail("heatmap row %d has %d values for %d columns", r, len(row), len(h.Cols))
			}
			if err := finite(row); err != nil {
				return fail("heatmap row %d: %v", r, err)
			}
		}
		if err := finite([]float64{h.Min, h.Max}); err != nil || h.Min > h.Max {
			return fail("heatmap colour scale [%v, %v] is invalid", h.Min, h.Max)
		}
	case "lines":
		if len(p.Lines.Series) == 0 {
			return fail("no series")
		}
		for i, s := range p.Lines.Series {
			if len(s.X) == 0 || len(s.X) != len(s.Y) || (s.Err != nil && len(s.Err) != len(s.Y)) {
				return fail("series %d (%q): %d x, %d y and %d err values", i, s.Name, len(s.X), len(s.Y), len(s.Err))
			}
			for _, xs := range [][]float64{s.X, s.Y, s.Err} {
				if err := finite(xs); err != nil {
					return fail("series %d (%q): %v", i, s.Name, err)
				}
			}
			if err := nonNegative(s.Err); err != nil {
				return fail("series %d (%q): %v", i, s.Name, err)
			}
		}
	case "bars":
		b := p.Bars
		if len(b.Categories) == 0 || len(b.Groups) == 0 {
			return fail("bar chart needs categories and groups")
		}
		for i, g := range b.Groups {
			if len(g.Values) != len(b.Categories) || (g.Err != nil && len(g.Err) != len(g.Values)) {
				return fail("bar group %d (%q): %d values and %d err for %d categories", i, g.Name, len(g.Values), len(g.Err), len(b.Categories))
			}
			for _, xs := range [][]float64{g.Values, g.Err} {
				if err := finite(xs); err != nil {
					return fail("bar group %d (%q): %v", i, g.Name, err)
				}
			}
			if err := nonNegative(g.Err); err != nil {
				return fail("bar group %d (%q): %v", i, g.Name, err)
			}
		}
	}
	return nil
}

func finite(xs []float64) error {
	for i, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("value %d is %v", i, x)
		}
	}
	return nil
}

func nonNegative(xs []float64) error {
	for i, x := range xs {
		if x < 0 {
			return fmt.Errorf("error half-width %d is negative (%v)", i, x)
		}
	}
	return nil
}

func finiteValues(where string, m map[string]float64) error {
	for k, v := range m {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("report: %s: %q is %v", where, k, v)
		}
	}
	return nil
}

// Write renders r into dir (created if needed): <id>.png for every plot,
// then report.json, then report.md. Each file is written to a temporary
// file in dir and renamed into place, so a reader never sees a partial
// file, and report.md appearing means the report is complete. The figures
// of a report dir held before that r has not are removed once r is
// complete (only those its report.json names), so none is left stale.
func Write(ctx context.Context, dir string, r *Report) error {
	earlier := earlierPlots(dir)
	if err := write(ctx, dir, r); err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, s := range r.Sections {
		for _, p := range s.Plots {
			keep[p.ID+".png"] = true
		}
	}
	for _, f := range earlier {
		if keep[f] {
			continue
		}
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("report: remove the earlier report's %s: %w", f, err)
		}
	}
	return nil
}

// earlierPlots lists the figure files that the report.json in dir names, if
// there is one: plain names of the form <id>.png, nothing else.
func earlierPlots(dir string) []string {
	d, err := ReadJSON(filepath.Join(dir, "report.json"))
	if err != nil {
		return nil
	}
	var files []string
	for id, p := range d.Plots {
		if p.File == id+".png" && filepath.Base(p.File) == p.File && !strings.HasPrefix(p.File, ".") {
			files = append(files, p.File)
		}
	}
	return files
}

func write(ctx context.Context, dir string, r *Report) error {
	if err := r.Validate(); err != nil {
		return err
	}
	// Encode first: data that cannot be encoded must fail before any file
	// is written.
	js, err := r.marshalJSON()
	if err != nil {
		return fmt.Errorf("report: encode report.json: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	for _, s := range r.Sections {
		for _, p := range s.Plots {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("report: %w", err)
			}
			png, err := renderPNG(p)
			if err != nil {
				return fmt.Errorf("report: plot %q: %w", p.ID, err)
			}
			if err := writeAtomic(dir, p.ID+".png", png); err != nil {
				return err
			}
		}
	}
	if err := writeAtomic(dir, "report.json", js); err != nil {
		return err
	}
	return writeAtomic(dir, "report.md", r.markdown())
}
