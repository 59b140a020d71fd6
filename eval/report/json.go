package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
)

// Document is the content of report.json.
type Document struct {
	Title    string             `json:"title"`
	Summary  string             `json:"summary,omitempty"`
	Values   map[string]float64 `json:"values,omitempty"`
	Sections []DocumentSection  `json:"sections"`
	// Plots holds every plotted number, keyed by plot ID.
	Plots    map[string]PlotData `json:"plots"`
	Verdicts []Verdict           `json:"verdicts"`
}

// DocumentSection is a section in report.json; its plots are listed by ID.
type DocumentSection struct {
	Title  string             `json:"title"`
	Text   string             `json:"text,omitempty"`
	Tables []Table            `json:"tables,omitempty"`
	Plots  []string           `json:"plots,omitempty"`
	Values map[string]float64 `json:"values,omitempty"`
	Data   map[string]any     `json:"data,omitempty"`
}

// PlotData is one plot in report.json: its labels and all of its data.
type PlotData struct {
	Kind    string      `json:"kind"` // "heatmap", "lines" or "bars"
	File    string      `json:"file"` // the PNG, relative to report.json
	Title   string      `json:"title,omitempty"`
	XLabel  string      `json:"x_label,omitempty"`
	YLabel  string      `json:"y_label,omitempty"`
	Caption string      `json:"caption,omitempty"`
	Heatmap *Heatmap    `json:"heatmap,omitempty"`
	Lines   *Lines      `json:"lines,omitempty"`
	Bars    *Bars       `json:"bars,omitempty"`
	Refs    []Ref       `json:"refs,omitempty"`
	Range   *[2]float64 `json:"range,omitempty"`
}

// document converts a validated report into its JSON form.
func (r *Report) document() *Document {
	d := &Document{Title: r.Title, Summary: r.Summary, Values: r.Values, Plots: map[string]PlotData{}, Verdicts: r.Verdicts}
	if d.Verdicts == nil {
		d.Verdicts = []Verdict{}
	}
	d.Sections = make([]DocumentSection, 0, len(r.Sections))
	for _, s := range r.Sections {
		ds := DocumentSection{Title: s.Title, Text: s.Text, Tables: s.Tables, Values: s.Values, Data: s.Data}
		for _, p := range s.Plots {
			kind, _ := p.kind() // Validated.
			ds.Plots = append(ds.Plots, p.ID)
			d.Plots[p.ID] = PlotData{
				Kind: kind, File: p.ID + ".png", Title: p.Title, XLabel: p.XLabel, YLabel: p.YLabel,
				Caption: p.Caption, Heatmap: p.Heatmap, Lines: p.Lines, Bars: p.Bars, Refs: p.Refs, Range: p.Range,
			}
		}
		d.Sections = append(d.Sections, ds)
	}
	return d
}

func (r *Report) marshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r.document()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ReadJSON reads a report.json written by Write.
func ReadJSON(path string) (*Document, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var d Document
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("report: %s: %w", path, err)
	}
	return &d, nil
}
