package progress

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a fake time source advanced by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newClock() *clock { return &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

// TestLines: the first update, one line per Every, the last update, and Finish adds nothing already shown.
func TestLines(t *testing.T) {
	var buf bytes.Buffer
	c := newClock()
	m := New(&buf, 10, Options{Label: "train", Unit: "steps", Mode: Lines, Every: 2 * time.Second, Now: c.now})
	for i := 1; i <= 10; i++ {
		m.Update(i, "loss 0.5")
		c.advance(time.Second) // one step per second
	}
	m.Finish()
	m.Finish()
	got := buf.String()
	want := "train: 1/10 steps (10%), loss 0.5\n" +
		"train: 3/10 steps (30%), 1.0 steps/s, ETA 7s, loss 0.5\n" +
		"train: 5/10 steps (50%), 1.0 steps/s, ETA 5s, loss 0.5\n" +
		"train: 7/10 steps (70%), 1.0 steps/s, ETA 3s, loss 0.5\n" +
		"train: 9/10 steps (90%), 1.0 steps/s, ETA 1s, loss 0.5\n" +
		"train: 10/10 steps (100%), 1.0 steps/s, loss 0.5\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestFinishShowsLastState: work stopped early (Ctrl-C) leaves its last count on record.
func TestFinishShowsLastState(t *testing.T) {
	var buf bytes.Buffer
	c := newClock()
	m := New(&buf, 100, Options{Mode: Lines, Every: time.Minute, Now: c.now})
	for i := 1; i <= 4; i++ {
		m.Update(i, "")
		c.advance(500 * time.Millisecond)
	}
	m.Finish()
	m.Update(5, "") // after Finish: ignored
	m.Finish()
	want := "1/100 items (1%)\n4/100 items (4%), 2.0 items/s, ETA 48s\n"
	if buf.String() != want {
		t.Errorf("got %q, want %q", buf.String(), want)
	}
}

func TestBar(t *testing.T) {
	var buf bytes.Buffer
	c := newClock()
	m := New(&buf, 4, Options{Label: "score", Unit: "examples", Mode: Bar, Width: 100, Now: c.now})
	for i := 1; i <= 4; i++ {
		m.Update(i, "")
		c.advance(2 * time.Second)
	}
	m.Finish()
	frames := strings.Split(buf.String(), "\r")[1:]
	if len(frames) != 4 {
		t.Fatalf("%d frames, want 4: %q", len(frames), buf.String())
	}
	for i, f := range frames {
		line := strings.TrimRight(f, "\n")
		if n := len([]rune(line)); n > 99 {
			t.Errorf("frame %d is %d columns wide, more than the width minus one: %q", i, n, line)
		}
	}
	if want := "score [" + strings.Repeat("=", 15) + ">" + strings.Repeat(" ", 14) + "] 2/4 examples (50%)  2.0 s/example  ETA 4s"; !strings.HasPrefix(frames[1], want) {
		t.Errorf("frame 2 = %q, want prefix %q", frames[1], want)
	}
	last := frames[3]
	if !strings.HasPrefix(last, "score ["+strings.Repeat("=", 30)+"] 4/4 examples (100%)") || !strings.HasSuffix(last, "\n") {
		t.Errorf("last frame %q: want a full bar ending the line", last)
	}
}

// TestBarThrottle: updates faster than the redraw interval are skipped, except the last one.
func TestBarThrottle(t *testing.T) {
	var buf bytes.Buffer
	c := newClock()
	m := New(&buf, 1000, Options{Mode: Bar, Now: c.now})
	for i := 1; i <= 1000; i++ {
		m.Update(i, "")
		c.advance(time.Millisecond)
	}
	m.Finish()
	frames := strings.Count(buf.String(), "\r")
	if frames < 10 || frames > 12 {
		t.Errorf("%d redraws for 1000 updates over 1 s, want about 11", frames)
	}
	if !strings.Contains(buf.String(), "1000/1000") {
		t.Error("the final count was never drawn")
	}
}

// TestBarShorterLineBlanksRest: a shorter frame overwrites the longer one before it completely.
func TestBarShorterLineBlanksRest(t *testing.T) {
	var buf bytes.Buffer
	c := newClock()
	m := New(&buf, 0, Options{Mode: Bar, Now: c.now})
	m.Update(1, "a long detail text")
	c.advance(time.Second)
	m.Update(2, "")
	frames := strings.Split(buf.String(), "\r")[1:]
	if len(frames) != 2 || len(frames[1]) != len(frames[0]) {
		t.Fatalf("frames %q: want the second padded to the first's length", frames)
	}
}

// TestBarNarrow: a terminal too narrow for a bar still gets the numbers, cut to its width.
func TestBarNarrow(t *testing.T) {
	var buf bytes.Buffer
	m := New(&buf, 10, Options{Label: "train", Mode: Bar, Width: 30})
	m.Update(3, "loss 1.2345 and more detail")
	got := strings.TrimPrefix(buf.String(), "\r")
	if want := "train 3/10 items (30%)  loss "; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestOff(t *testing.T) {
	var buf bytes.Buffer
	m := New(&buf, 3, Options{Mode: Off})
	m.Update(1, "x")
	m.Update(3, "x")
	m.Finish()
	if buf.Len() != 0 {
		t.Errorf("Off wrote %q", buf.String())
	}
}

// TestAutoNotTerminal: a pipe or a file gets plain lines.
func TestAutoNotTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if m := New(f, 1, Options{}); m.Mode() != Lines {
		t.Errorf("mode %v for a file, want Lines", m.Mode())
	}
	var buf bytes.Buffer
	if m := New(&buf, 1, Options{}); m.Mode() != Lines {
		t.Errorf("mode %v for a buffer, want Lines", m.Mode())
	}
}

func TestConcurrentUpdates(t *testing.T) {
	var buf bytes.Buffer
	m := New(&buf, 400, Options{Mode: Lines, Every: time.Hour})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 100 {
				m.Update(g*100+i+1, "")
			}
		})
	}
	wg.Wait()
	m.Finish()
	// The race detector is the real check; the output must still be whole lines.
	if n := strings.Count(buf.String(), "\n"); n < 1 || n > 3 || !strings.HasSuffix(buf.String(), "\n") {
		t.Errorf("want 1 to 3 whole lines (first, total reached, final), got %q", buf.String())
	}
}

func TestFormat(t *testing.T) {
	rates := []struct {
		r    float64
		want string
	}{{250, "250 steps/s"}, {3.24, "3.2 steps/s"}, {1, "1.0 steps/s"}, {0.08, "12.5 s/step"}, {0, ""}}
	for _, tt := range rates {
		if got := FormatRate(tt.r, "steps"); got != tt.want {
			t.Errorf("FormatRate(%v) = %q, want %q", tt.r, got, tt.want)
		}
	}
	durations := []struct {
		d    time.Duration
		want string
	}{{0, "0s"}, {42 * time.Second, "42s"}, {185 * time.Second, "3m05s"}, {2*time.Hour + 3*time.Minute + 40*time.Second, "2h03m"}, {1499 * time.Millisecond, "1s"}}
	for _, tt := range durations {
		if got := FormatDuration(tt.d); got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
	bars := []struct {
		done, total, cells int
		want               string
	}{{0, 10, 5, "     "}, {1, 10, 5, ">    "}, {5, 10, 5, "==>  "}, {10, 10, 5, "====="}, {12, 10, 5, "====="}}
	for _, tt := range bars {
		if got := bar(tt.done, tt.total, tt.cells); got != tt.want {
			t.Errorf("bar(%d, %d, %d) = %q, want %q", tt.done, tt.total, tt.cells, got, tt.want)
		}
	}
}
