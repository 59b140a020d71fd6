// Package progress shows how far long work has come: on a terminal, a bar redrawn in place with the count,
// the rate and the time left; elsewhere (a log file, a pipe, CI), a plain line every few seconds; or nothing.
//
// A Meter is fed counts as the work advances and finished when it stops, however it stops, so that the
// terminal's line is ended and the last state is on record:
//
//	m := progress.New(os.Stderr, total, progress.Options{Label: "train", Unit: "steps"})
//	defer m.Finish()
//	for i := 1; i <= total; i++ { ...; m.Update(i, "loss 1.23") }
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/term"
)

// Mode selects how progress is shown.
type Mode int

// The modes.
const (
	// Auto is Bar when the writer is a terminal, Lines otherwise.
	Auto Mode = iota
	// Bar redraws one line in place.
	Bar
	// Lines prints a plain line at most every Options.Every, plus the first and the last.
	Lines
	// Off shows nothing, e.g. when the output is JSON.
	Off
)

// Options configure a Meter. The zero value shows "items" in Auto mode.
type Options struct {
	// Label starts every line, e.g. "train".
	Label string
	// Unit names what is counted, in the plural ending in "s" ("steps", "examples"); default "items".
	Unit string
	// Mode is Auto by default.
	Mode Mode
	// Every is the least time between two lines in Lines mode; default 5 seconds.
	Every time.Duration
	// Width is the bar's line width in columns; zero means the terminal's width, or 80.
	Width int
	// Now is the clock; nil means time.Now. Tests set it to make rates and times reproducible.
	Now func() time.Time
}

// redrawEvery bounds how often a bar is redrawn: faster updates would only cost terminal time.
const redrawEvery = 100 * time.Millisecond

// numbersRoom is the room a bar leaves for the count, rate, ETA and a short detail.
const numbersRoom = 45

// Meter shows the progress of one piece of work. It is safe for concurrent use.
type Meter struct {
	mu    sync.Mutex
	w     io.Writer
	total int
	opt   Options

	first, last   time.Time // times of the first and the latest update
	firstN, n     int
	detail        string
	updated       bool
	shownN        int // the count last shown
	shownAt       time.Time
	shown         bool
	width         int // the bar's last drawn width, to blank leftovers of a longer line
	finished      bool
	barLineIsOpen bool
}

// New returns a meter for total units of work (0 if unknown) written to w.
func New(w io.Writer, total int, opt Options) *Meter {
	if opt.Unit == "" {
		opt.Unit = "items"
	}
	if opt.Every <= 0 {
		opt.Every = 5 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Mode == Auto {
		opt.Mode = Lines
		if f, ok := w.(*os.File); ok && IsTerminal(f) {
			opt.Mode = Bar
			if opt.Width == 0 {
				if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 {
					opt.Width = cols
				}
			}
		}
	}
	if opt.Width <= 0 {
		opt.Width = 80
	}
	return &Meter{w: w, total: max(total, 0), opt: opt}
}

// IsTerminal reports whether f is an interactive terminal a bar can be redrawn on (not TERM=dumb).
func IsTerminal(f *os.File) bool {
	return term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb"
}

// Mode returns the mode in effect (never Auto).
func (m *Meter) Mode() Mode { return m.opt.Mode }

// Update records that n units are done; detail (e.g. "loss 1.2345") is shown after the numbers.
func (m *Meter) Update(n int, detail string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.finished || m.opt.Mode == Off {
		return
	}
	now := m.opt.Now()
	if !m.updated {
		m.first, m.firstN, m.updated = now, n, true
	}
	m.last, m.n, m.detail = now, n, detail
	switch m.opt.Mode {
	case Bar:
		if !m.shown || n == m.total || now.Sub(m.shownAt) >= redrawEvery {
			m.drawBar(now)
		}
	case Lines:
		if !m.shown || n == m.total || now.Sub(m.shownAt) >= m.opt.Every {
			m.printLine(now)
		}
	}
}

// Finish shows the last state if it has not been shown and ends the bar's line. Further calls and
// updates do nothing.
func (m *Meter) Finish() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.finished {
		return
	}
	m.finished = true
	if !m.updated || m.opt.Mode == Off {
		return
	}
	switch m.opt.Mode {
	case Bar:
		if m.shownN != m.n || !m.shown {
			m.drawBar(m.last)
		}
		if m.barLineIsOpen {
			io.WriteString(m.w, "\n")
		}
	case Lines:
		if m.shownN != m.n {
			m.printLine(m.last)
		}
	}
}

func (m *Meter) markShown(now time.Time) {
	m.shown, m.shownN, m.shownAt = true, m.n, now
}

// stats returns the rate in units per second (0 when unknown) and the time left (negative when unknown).
func (m *Meter) stats() (float64, time.Duration) {
	dt := m.last.Sub(m.first).Seconds()
	dn := m.n - m.firstN
	if dt <= 0 || dn <= 0 {
		return 0, -1
	}
	rate := float64(dn) / dt
	if m.total == 0 || m.n >= m.total {
		return rate, -1
	}
	return rate, time.Duration(float64(m.total-m.n) / rate * float64(time.Second))
}

// numbers is the count, percentage, rate, time left and detail, as both modes show them.
func (m *Meter) numbers() []string {
	var parts []string
	if m.total > 0 {
		parts = append(parts, fmt.Sprintf("%d/%d %s (%d%%)", m.n, m.total, m.opt.Unit, percent(m.n, m.total)))
	} else {
		parts = append(parts, fmt.Sprintf("%d %s", m.n, m.opt.Unit))
	}
	rate, left := m.stats()
	if rate > 0 {
		parts = append(parts, FormatRate(rate, m.opt.Unit))
	}
	if left >= 0 {
		parts = append(parts, "ETA "+FormatDuration(left))
	}
	if m.detail != "" {
		parts = append(parts, m.detail)
	}
	return parts
}

func (m *Meter) printLine(now time.Time) {
	line := strings.Join(m.numbers(), ", ")
	if m.opt.Label != "" {
		line = m.opt.Label + ": " + line
	}
	io.WriteString(m.w, line+"\n")
	m.markShown(now)
}

func (m *Meter) drawBar(now time.Time) {
	left := ""
	if m.opt.Label != "" {
		left = m.opt.Label + " "
	}
	right := " " + strings.Join(m.numbers(), "  ")
	room := m.opt.Width - 1 // never write the last column: some terminals wrap there
	line := left + right[1:]
	// The bar keeps one width while the numbers after it change length, so it does not jump; numbers that
	// do not fit are cut at the end of the line.
	if cells := min(room-utf8.RuneCountInString(left)-2-numbersRoom, 30); m.total > 0 && cells >= 10 {
		line = left + "[" + bar(m.n, m.total, cells) + "]" + right
	}
	line = truncate(line, room)
	n := utf8.RuneCountInString(line)
	pad := ""
	if n < m.width {
		pad = strings.Repeat(" ", m.width-n)
	}
	io.WriteString(m.w, "\r"+line+pad)
	m.width = n
	m.barLineIsOpen = true
	m.markShown(now)
}

// bar draws done/total as cells "=" with a ">" at the head.
func bar(done, total, cells int) string {
	full := min(cells*done/total, cells)
	if full == cells {
		return strings.Repeat("=", cells)
	}
	if full == 0 && done == 0 {
		return strings.Repeat(" ", cells)
	}
	return strings.Repeat("=", full) + ">" + strings.Repeat(" ", cells-full-1)
}

func percent(n, total int) int {
	if total <= 0 {
		return 0
	}
	return min(100*n/total, 100)
}

func truncate(s string, cols int) string {
	if utf8.RuneCountInString(s) <= cols {
		return s
	}
	r := []rune(s)
	return string(r[:max(cols, 0)])
}

// FormatRate writes a rate per second in units, as "3.2 steps/s" when at least one per second and as
// "12.5 s/step" (the unit without its final "s") when slower.
func FormatRate(perSecond float64, unit string) string {
	switch {
	case perSecond >= 100:
		return fmt.Sprintf("%.0f %s/s", perSecond, unit)
	case perSecond >= 1:
		return fmt.Sprintf("%.1f %s/s", perSecond, unit)
	case perSecond > 0:
		return fmt.Sprintf("%.1f s/%s", 1/perSecond, strings.TrimSuffix(unit, "s"))
	}
	return ""
}

// FormatDuration writes d the way people read an ETA: "42s", "3m05s", "2h03m".
func FormatDuration(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh%02dm", s/3600, (s%3600)/60)
}
