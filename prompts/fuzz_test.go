package prompts

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// FuzzImport feeds arbitrary documents to Import on a real store. Import must never panic; a refused
// document fails with ErrMalformedImport or ErrTaskExists and leaves no task behind; an accepted one
// exports, and after its tasks are removed, imports again from its own export, which exports the same.
// The seed corpus is in testdata/fuzz/FuzzImport (regenerate with PROMPTS_WRITE_CORPUS=1 go test -run
// TestWriteImportCorpus).
func FuzzImport(f *testing.F) {
	s, err := Open(filepath.Join(f.TempDir(), "s"), &Options{Small: true, NoSnapshot: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	ctx := context.Background()
	stamp := regexp.MustCompile(`"exported": *"[^"]*"`)
	f.Fuzz(func(t *testing.T, doc []byte) {
		sum, err := s.Import(ctx, bytes.NewReader(doc))
		if err != nil {
			if !errors.Is(err, ErrMalformedImport) && !errors.Is(err, ErrTaskExists) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("Import error is not a refusal: %v", err)
			}
			if ts, _ := s.Tasks(ctx); len(ts) != 0 {
				t.Fatalf("a refused import left tasks %v", ts)
			}
			return
		}
		var first bytes.Buffer
		if err := s.Export(ctx, &first, sum.Tasks...); err != nil {
			t.Fatalf("Export of imported tasks: %v", err)
		}
		for _, task := range sum.Tasks {
			if err := s.RemoveTask(ctx, task); err != nil {
				t.Fatalf("RemoveTask(%s): %v", task, err)
			}
		}
		if _, err := s.Import(ctx, bytes.NewReader(first.Bytes())); err != nil {
			t.Fatalf("importing its own export: %v\n%s", err, first.Bytes())
		}
		var second bytes.Buffer
		if err := s.Export(ctx, &second, sum.Tasks...); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(stamp.ReplaceAll(first.Bytes(), nil), stamp.ReplaceAll(second.Bytes(), nil)) {
			t.Fatalf("export changed through import:\n%s\n%s", first.Bytes(), second.Bytes())
		}
		for _, task := range sum.Tasks {
			if err := s.RemoveTask(ctx, task); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestWriteImportCorpus writes the seed corpus of FuzzImport when PROMPTS_WRITE_CORPUS is set: the export
// of a store with every kind of record, and damaged variants of it.
func TestWriteImportCorpus(t *testing.T) {
	if os.Getenv("PROMPTS_WRITE_CORPUS") == "" {
		t.Skip("set PROMPTS_WRITE_CORPUS=1 to rewrite testdata/fuzz/FuzzImport")
	}
	ctx := context.Background()
	s := openTest(t, "")
	mustTask(t, s, "qa")
	mustTask(t, s, "empty")
	ls, err := s.AddLessons(ctx, "qa", []Lesson{{Text: "Answer with the city only.", Helpful: 2}})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := s.AddDemos(ctx, "qa", []Demo{{Input: "Capital of Quenth?", Output: "Ambrel"}})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := s.AddNotes(ctx, "qa", []Note{{Text: "The capital of Zorblia is Quessa."}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.AddCandidate(ctx, Candidate{Task: "qa", System: "Be brief.", Lessons: []uint64{ls[0].ID},
		Demos: []uint64{ds[0].ID}, Notes: []uint64{ns[0].ID}, Scores: map[string]float64{"v1": 1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Promote(ctx, "qa", c.ID, PromoteOptions{Source: "corpus"}); err != nil {
		t.Fatal(err)
	}
	var doc bytes.Buffer
	if err := s.Export(ctx, &doc); err != nil {
		t.Fatal(err)
	}
	good := doc.Bytes()
	seeds := map[string][]byte{
		"export":        good,
		"truncated":     good[:len(good)/2],
		"unknown-field": bytes.Replace(good, []byte(`"format"`), []byte(`"extra": 1, "format"`), 1),
		"bad-name":      bytes.Replace(good, []byte(`"name":"qa"`), []byte(`"name":"q/a"`), 1),
		"dangling-ref":  bytes.Replace(good, []byte(`"current":1`), []byte(`"current":9`), 1),
		"empty":         []byte(`{"format": "fastslow-prompts", "schema": 1, "tasks": []}`),
		"not-json":      []byte("<html>"),
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzImport")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range seeds {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("go test fuzz v1\n[]byte("+quoteBytes(b)+")\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func quoteBytes(b []byte) string {
	var out bytes.Buffer
	out.WriteByte('"')
	for _, c := range b {
		switch {
		case c == '"' || c == '\\':
			out.WriteByte('\\')
			out.WriteByte(c)
		case c == '\n':
			out.WriteString(`\n`)
		case c >= 0x20 && c < 0x7f:
			out.WriteByte(c)
		default:
			out.WriteString(`\x`)
			out.WriteString("0123456789abcdef"[c>>4 : c>>4+1])
			out.WriteString("0123456789abcdef"[c&15 : c&15+1])
		}
	}
	out.WriteByte('"')
	return out.String()
}
