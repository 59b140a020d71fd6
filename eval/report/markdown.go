package report

import (
	"fmt"
	"slices"
	"strings"
)

// markdown renders report.md.
func (r *Report) markdown() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", flat(r.Title))
	if r.Summary != "" {
		b.WriteString(strings.TrimSpace(r.Summary) + "\n\n")
	}
	if len(r.Values) > 0 {
		writeTable(&b, valuesTable(r.Values))
	}
	for _, s := range r.Sections {
		fmt.Fprintf(&b, "## %s\n\n", flat(s.Title))
		if s.Text != "" {
			b.WriteString(strings.TrimSpace(s.Text) + "\n\n")
		}
		for _, t := range s.Tables {
			writeTable(&b, t)
		}
		for _, p := range s.Plots {
			alt := p.Title
			if alt == "" {
				alt = p.ID
			}
			fmt.Fprintf(&b, "![%s](%s.png)\n\n", strings.NewReplacer("[", `\[`, "]", `\]`).Replace(flat(alt)), p.ID)
			if p.Caption != "" {
				fmt.Fprintf(&b, "*%s*\n\n", flat(p.Caption))
			}
		}
	}
	b.WriteString("## Verdict\n\n")
	if len(r.Verdicts) == 0 {
		b.WriteString("No verdicts were recorded.\n")
	} else {
		t := Table{Header: []string{"Question", "Verdict", "Evidence"}}
		for _, v := range r.Verdicts {
			t.Rows = append(t.Rows, []string{v.Question, v.Verdict, v.Evidence})
		}
		writeTable(&b, t)
	}
	return []byte(strings.TrimRight(b.String(), "\n") + "\n")
}

// valuesTable lists headline values in key order (deterministic output).
func valuesTable(values map[string]float64) Table {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	t := Table{Header: []string{"Quantity", "Value"}}
	for _, k := range keys {
		t.Rows = append(t.Rows, []string{k, FormatNumber(values[k])})
	}
	return t
}

// FormatNumber formats a number for tables: four significant digits.
func FormatNumber(x float64) string { return fmt.Sprintf("%.4g", x) }

func writeTable(b *strings.Builder, t Table) {
	if t.Caption != "" {
		fmt.Fprintf(b, "**%s**\n\n", flat(t.Caption))
	}
	writeRow(b, t.Header)
	sep := make([]string, len(t.Header))
	for i := range sep {
		sep[i] = "---"
	}
	b.WriteString("| " + strings.Join(sep, " | ") + " |\n")
	for _, row := range t.Rows {
		writeRow(b, row)
	}
	b.WriteString("\n")
}

func writeRow(b *strings.Builder, cells []string) {
	esc := make([]string, len(cells))
	for i, c := range cells {
		esc[i] = strings.ReplaceAll(oneLine(c), "|", `\|`)
	}
	b.WriteString("| " + strings.Join(esc, " | ") + " |\n")
}

// flat joins a heading or caption onto one line.
func flat(s string) string { return strings.Join(strings.Fields(s), " ") }

// oneLine keeps a table cell on one line, turning line breaks into <br>.
func oneLine(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(strings.TrimSpace(s), "\r\n", "\n"), "\n", "<br>")
}
