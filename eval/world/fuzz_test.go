package world

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// fuzzMaxLine is the line limit under fuzzing, small so that the limit is exercised.
const fuzzMaxLine = 512

// FuzzReadJSONL feeds arbitrary bytes to the JSONL reader. It must never panic; an error names the input
// and a line; a line over the limit is refused with ErrLineTooLong; and what it accepts has a completion
// on every example and survives WriteJSONL and a second read unchanged. The seed corpus is in
// testdata/fuzz/FuzzReadJSONL.
func FuzzReadJSONL(f *testing.F) {
	f.Add([]byte(`{"prompt": "Q: 2+2?\nA:", "completion": " 4", "answer": "4", "task": "math"}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ex, err := readJSONL(bytes.NewReader(data), "in.jsonl", ReadOptions{MaxLine: fuzzMaxLine})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "in.jsonl:") {
				t.Fatalf("error does not name the input and line: %v", err)
			}
			return
		}
		for _, l := range bytes.Split(data, []byte("\n")) {
			if len(l) > fuzzMaxLine+1 {
				t.Fatalf("a line of %d bytes was accepted, limit %d", len(l), fuzzMaxLine)
			}
		}
		for i, e := range ex {
			if e.Completion == "" {
				t.Fatalf("example %d has no completion", i)
			}
		}
		var buf bytes.Buffer
		if err := WriteJSONL(&buf, ex); err != nil {
			t.Fatalf("WriteJSONL of what was read: %v", err)
		}
		again, err := readJSONL(&buf, "again.jsonl", ReadOptions{MaxLine: 1 << 30})
		if err != nil {
			t.Fatalf("reading back: %v", err)
		}
		for i := range again {
			again[i].Line = ex[i].Line
		}
		if !reflect.DeepEqual(normalize(ex), normalize(again)) {
			t.Fatalf("round trip changed the examples:\n%+v\n%+v", ex, again)
		}
	})
}

// normalize makes nil and empty message lists equal.
func normalize(ex []Example) []Example {
	out := make([]Example, len(ex))
	for i, e := range ex {
		if len(e.Messages) == 0 {
			e.Messages = nil
		}
		out[i] = e
	}
	return out
}

// FuzzReadLines checks the line splitter alone: no panic, lines over the limit refused, and every accepted
// line handed over trimmed and non-empty.
func FuzzReadLines(f *testing.F) {
	f.Add([]byte("a\n\n  b  \r\nc"), 4)
	f.Fuzz(func(t *testing.T, data []byte, max int) {
		if max <= 0 || max > 1<<16 {
			return
		}
		var n int
		err := ReadLines(bytes.NewReader(data), "in", max, func(_ int, line []byte) error {
			if len(line) == 0 || len(line) > max || !bytes.Equal(line, bytes.TrimSpace(line)) {
				t.Fatalf("line %q handed over (limit %d)", line, max)
			}
			n++
			return nil
		})
		if err != nil && !errors.Is(err, ErrLineTooLong) {
			t.Fatalf("unexpected error: %v", err)
		}
	})
}
