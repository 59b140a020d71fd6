package prompts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/fastslow/fastslow/internal/dirhash"
)

func openTest(t testing.TB, dir string) *Store {
	t.Helper()
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "store")
	}
	s, err := Open(dir, &Options{Small: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func mustTask(t testing.TB, s *Store, name string) {
	t.Helper()
	if _, err := s.CreateTask(context.Background(), Task{Name: name}); err != nil {
		t.Fatalf("CreateTask(%q): %v", name, err)
	}
}

func TestOpenCreatesAndReopens(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "s")
	s, err := Open(dir, &Options{Small: true})
	if err != nil {
		t.Fatal(err)
	}
	mustTask(t, s, "arith")
	l, err := s.AddLesson(ctx, Lesson{Task: "arith", Text: "Carry the one."})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close = %v, want ErrClosed", err)
	}
	if _, err := os.Stat(filepath.Join(dir, MarkerFile)); err != nil {
		t.Fatalf("marker: %v", err)
	}
	s = openTest(t, dir)
	got, err := s.Lesson(ctx, "arith", l.ID)
	if err != nil || got.Text != l.Text {
		t.Fatalf("after reopen Lesson = %+v, %v", got, err)
	}
	// New ids never reuse old ones.
	l2, err := s.AddLesson(ctx, Lesson{Task: "arith", Text: "Check the sign."})
	if err != nil || l2.ID <= l.ID {
		t.Fatalf("second lesson id %d after %d (%v)", l2.ID, l.ID, err)
	}
}

func TestOpenRefusesForeignDirectories(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  error
	}{
		{"plain files", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644)
		}, ErrForeign},
		{"other badger database", func(t *testing.T, dir string) {
			db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil).WithMemTableSize(1 << 20).
				WithValueThreshold(1 << 10).WithBlockCacheSize(1 << 20))
			if err != nil {
				t.Fatal(err)
			}
			db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("theirs"), []byte("1")) })
			db.Close()
		}, ErrForeign},
		{"marker from elsewhere", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, MarkerFile), []byte("something else"), 0o644)
		}, ErrForeign},
		{"newer schema", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, MarkerFile), []byte(markerText+"99\n"), 0o644)
		}, ErrSchema},
		{"a file, not a directory", nil, ErrForeign},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "d")
			if tc.setup == nil {
				os.WriteFile(dir, []byte("x"), 0o644)
			} else {
				os.Mkdir(dir, 0o755)
				tc.setup(t, dir)
			}
			before := dirhash.Digest(t, dir)
			s, err := Open(dir, &Options{Small: true})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open = %v, want %v", err, tc.want)
			}
			if after := dirhash.Digest(t, dir); after != before {
				t.Fatal("Open modified the directory")
			}
		})
	}
}

func TestOpenCorruptStore(t *testing.T) {
	cases := []struct {
		name   string
		damage func(dir string) error
	}{
		{"garbage MANIFEST", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "MANIFEST"), []byte("not a manifest at all"), 0o644)
		}},
		{"missing MANIFEST", func(dir string) error { return os.Remove(filepath.Join(dir, "MANIFEST")) }},
		{"garbage table", func(dir string) error {
			tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
			if len(tables) == 0 {
				return errors.New("no table file to damage")
			}
			return os.WriteFile(tables[0], bytes.Repeat([]byte("garbage!"), 512), 0o644)
		}},
		{"truncated table", func(dir string) error {
			tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
			if len(tables) == 0 {
				return errors.New("no table file to damage")
			}
			fi, err := os.Stat(tables[0])
			if err != nil {
				return err
			}
			return os.Truncate(tables[0], fi.Size()/2)
		}},
		{"flipped index byte", func(dir string) error {
			tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
			if len(tables) == 0 {
				return errors.New("no table file to damage")
			}
			b, err := os.ReadFile(tables[0])
			if err != nil {
				return err
			}
			b[len(b)-40] ^= 0xff
			return os.WriteFile(tables[0], b, 0o644)
		}},
		{"schema record missing", func(dir string) error {
			db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil).WithMemTableSize(4 << 20).
				WithValueThreshold(1 << 10).WithBlockCacheSize(1 << 20))
			if err != nil {
				return err
			}
			defer db.Close()
			return db.Update(func(txn *badger.Txn) error { return txn.Delete(keySchema) })
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "s")
			s := openTest(t, dir)
			mustTask(t, s, "t")
			if _, err := s.AddNotes(context.Background(), "t", []Note{{Text: "water boils at 100 C"}}); err != nil {
				t.Fatal(err)
			}
			s.Close()
			if err := tc.damage(dir); err != nil {
				t.Fatal(err)
			}
			keysBefore := 0
			if tc.name == "schema record missing" {
				keysBefore = rawKeys(t, dir)
			}
			before := dirhash.Digest(t, dir)
			s2, err := Open(dir, &Options{Small: true})
			if err == nil {
				s2.Close()
				t.Fatal("Open succeeded on a corrupt store")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open = %v, want ErrCorrupt", err)
			}
			if tc.name == "schema record missing" {
				// Badger itself opened this one (to find the schema record
				// missing), which may rewrite its bookkeeping; the records
				// must all still be there.
				if got := rawKeys(t, dir); got != keysBefore {
					t.Fatalf("records changed: %d keys, had %d", got, keysBefore)
				}
				return
			}
			if dirhash.Digest(t, dir) != before {
				t.Fatal("Open modified the corrupt store")
			}
		})
	}
}

// rawKeys counts the keys of the badger database in dir, opened directly.
func rawKeys(t *testing.T, dir string) int {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil).WithMemTableSize(4 << 20).
		WithValueThreshold(1 << 10).WithBlockCacheSize(1 << 20))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	return n
}

func TestOpenLockedInProcess(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	s := openTest(t, dir)
	_, err := Open(dir, &Options{Small: true})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	// The first store is unharmed.
	mustTask(t, s, "still-works")
}

func TestUnknownTask(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "")
	mustTask(t, s, "known")
	calls := map[string]func() error{
		"Task":      func() error { _, err := s.Task(ctx, "nope"); return err },
		"Lessons":   func() error { _, err := s.Lessons(ctx, "nope"); return err },
		"AddNotes":  func() error { _, err := s.AddNotes(ctx, "nope", []Note{{Text: "x"}}); return err },
		"AddLesson": func() error { _, err := s.AddLesson(ctx, Lesson{Task: "nope", Text: "x"}); return err },
		"Feedback":  func() error { _, err := s.RecordFeedback(ctx, Feedback{Task: "nope"}); return err },
		"Current":   func() error { _, err := s.Current(ctx, "nope"); return err },
		"Promote":   func() error { _, err := s.Promote(ctx, "nope", 1, PromoteOptions{}); return err },
		"Rollback":  func() error { _, err := s.Rollback(ctx, "nope", 0, ""); return err },
		"Export":    func() error { return s.Export(ctx, &bytes.Buffer{}, "nope") },
		"Candidate": func() error { _, err := s.AddCandidate(ctx, Candidate{Task: "nope"}); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if err := call(); !errors.Is(err, ErrUnknownTask) {
				t.Fatalf("%s = %v, want ErrUnknownTask", name, err)
			}
		})
	}
	if _, err := s.CreateTask(ctx, Task{Name: "known"}); !errors.Is(err, ErrTaskExists) {
		t.Fatalf("duplicate CreateTask = %v", err)
	}
	for _, bad := range []string{"", "a/b", "white space", strings.Repeat("x", 65)} {
		if _, err := s.CreateTask(ctx, Task{Name: bad}); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateTask(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestRecordsAndReferences(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "")
	mustTask(t, s, "qa")
	fb, err := s.RecordFeedback(ctx, Feedback{Task: "qa", Input: "2+2", Output: "5", Score: 0, Text: "off by one"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.AddLesson(ctx, Lesson{Task: "qa", Text: "Add digit by digit.", Feedback: []uint64{fb.ID}, Source: "user"})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := s.AddDemos(ctx, "qa", []Demo{{Input: "1+1", Output: "2"}})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := s.AddNotes(ctx, "qa", []Note{{Text: "Paris is the capital of France."}, {Text: "pending fact", Pending: true}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.AddCandidate(ctx, Candidate{Task: "qa", System: "Answer briefly.", Lessons: []uint64{l.ID},
		Demos: []uint64{ds[0].ID}, Notes: []uint64{ns[1].ID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddCandidate(ctx, Candidate{Task: "qa", Lessons: []uint64{999999}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("candidate with dangling lesson = %v, want ErrNotFound", err)
	}
	if _, err := s.AddLesson(ctx, Lesson{Task: "qa", Text: "  "}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty lesson = %v, want ErrInvalid", err)
	}
	got, err := s.CountLesson(ctx, "qa", l.ID, 2, 1)
	if err != nil || got.Helpful != 2 || got.Harmful != 1 {
		t.Fatalf("CountLesson = %+v, %v", got, err)
	}
	c, err = s.SetScores(ctx, "qa", c.ID, map[string]float64{"v1": 1, "v2": 0})
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := c.Mean(nil); !ok || m != 0.5 {
		t.Fatalf("Mean = %v %v", m, ok)
	}
	if _, err := s.Candidate(ctx, "qa", 424242); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing candidate = %v", err)
	}
	var notes int
	if err := s.EachNote(ctx, "qa", func(Note) error { notes++; return nil }); err != nil || notes != 2 {
		t.Fatalf("EachNote: %d, %v", notes, err)
	}
	if err := s.DeleteNote(ctx, "qa", ns[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Note(ctx, "qa", ns[0].ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted note = %v", err)
	}
}

func TestPromoteGateAndRollback(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "")
	mustTask(t, s, "g")
	add := func(scores map[string]float64) Candidate {
		t.Helper()
		c, err := s.AddCandidate(ctx, Candidate{Task: "g", System: fmt.Sprint(scores), Scores: scores})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := s.Current(ctx, "g"); !errors.Is(err, ErrNoVersion) {
		t.Fatalf("Current on a new task = %v", err)
	}
	unscored := add(nil)
	if _, err := s.Promote(ctx, "g", unscored.ID, PromoteOptions{}); !errors.Is(err, ErrNotEvaluated) {
		t.Fatalf("promote unscored = %v", err)
	}
	a := add(map[string]float64{"x": 1, "y": 0})
	v1, err := s.Promote(ctx, "g", a.ID, PromoteOptions{Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	worse := add(map[string]float64{"x": 0, "y": 0})
	if _, err := s.Promote(ctx, "g", worse.ID, PromoteOptions{}); !errors.Is(err, ErrGateRejected) {
		t.Fatalf("promote worse = %v, want ErrGateRejected", err)
	}
	partial := add(map[string]float64{"x": 1})
	if _, err := s.Promote(ctx, "g", partial.ID, PromoteOptions{}); !errors.Is(err, ErrNotEvaluated) {
		t.Fatalf("promote partially scored = %v", err)
	}
	equal := add(map[string]float64{"x": 0, "y": 1, "z": 0})
	v2, err := s.Promote(ctx, "g", equal.ID, PromoteOptions{})
	if err != nil {
		t.Fatalf("promote equal: %v", err)
	}
	if v2.Previous != v1.Seq || v2.Evidence.Instances != 2 || v2.Evidence.Baseline != 0.5 || v2.Evidence.Score != 0.5 {
		t.Fatalf("evidence = %+v", v2)
	}
	again, err := s.Promote(ctx, "g", equal.ID, PromoteOptions{})
	if err != nil || again.Seq != v2.Seq {
		t.Fatalf("re-promoting current = %+v, %v", again, err)
	}
	forced, err := s.Promote(ctx, "g", worse.ID, PromoteOptions{Force: true, Reason: "experiment"})
	if err != nil || !forced.Evidence.Forced {
		t.Fatalf("forced = %+v, %v", forced, err)
	}
	// Walk back: forced -> v2 -> v1, then no further.
	r1, err := s.Rollback(ctx, "g", 0, "bad idea")
	if err != nil || r1.Candidate != equal.ID || r1.Restores != v2.Seq {
		t.Fatalf("rollback 1 = %+v, %v", r1, err)
	}
	r2, err := s.Rollback(ctx, "g", 0, "")
	if err != nil || r2.Candidate != a.ID || r2.Restores != v1.Seq {
		t.Fatalf("rollback 2 = %+v, %v", r2, err)
	}
	if _, err := s.Rollback(ctx, "g", 0, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rollback past the first version = %v", err)
	}
	r3, err := s.Rollback(ctx, "g", forced.Seq, "to a named version")
	if err != nil || r3.Candidate != worse.ID {
		t.Fatalf("rollback to seq = %+v, %v", r3, err)
	}
	hist, err := s.History(ctx, "g")
	if err != nil || len(hist) != 6 {
		t.Fatalf("history has %d entries (%v), want 6", len(hist), err)
	}
	cur, err := s.Current(ctx, "g")
	if err != nil || cur.Seq != r3.Seq {
		t.Fatalf("current = %+v, %v", cur, err)
	}
}

func TestPromoteActivatesPinnedNotes(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "")
	mustTask(t, s, "n")
	ns, err := s.AddNotes(ctx, "n", []Note{{Text: "zanzibar spice trade fact", Pending: true}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.AddCandidate(ctx, Candidate{Task: "n", Notes: []uint64{ns[0].ID}, Scores: map[string]float64{"a": 1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Promote(ctx, "n", c.ID, PromoteOptions{}); err != nil {
		t.Fatal(err)
	}
	n, err := s.Note(ctx, "n", ns[0].ID)
	if err != nil || n.Pending {
		t.Fatalf("note after promotion = %+v, %v", n, err)
	}
	var df uint64
	s.db.View(func(txn *badger.Txn) error {
		ix := s.newIndexer("n")
		df, err = ix.docFreq(txn, termRef{"n", KindNote, "zanzibar"})
		return err
	})
	if df != 1 {
		t.Fatalf("df(zanzibar) = %d after activation, want 1", df)
	}
}

// TestConcurrentWriters: 16 goroutines record feedback, lessons, lesson
// counts and notes for 2 tasks at once; every write must be there.
func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "")
	tasks := []string{"alpha", "beta"}
	shared := map[string]uint64{}
	for _, name := range tasks {
		mustTask(t, s, name)
		l, err := s.AddLesson(ctx, Lesson{Task: name, Text: "shared lesson"})
		if err != nil {
			t.Fatal(err)
		}
		shared[name] = l.ID
	}
	const workers, each = 16, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			task := tasks[w%2]
			for i := range each {
				fb, err := s.RecordFeedback(ctx, Feedback{Task: task, Input: fmt.Sprint(w, i), Score: 0.5})
				if err != nil {
					errs <- err
					return
				}
				if _, err := s.AddLesson(ctx, Lesson{Task: task, Text: fmt.Sprintf("lesson w%d i%d", w, i),
					Feedback: []uint64{fb.ID}}); err != nil {
					errs <- err
					return
				}
				if _, err := s.CountLesson(ctx, task, shared[task], 1, 0); err != nil {
					errs <- err
					return
				}
				if _, err := s.AddNotes(ctx, task, []Note{{Text: fmt.Sprintf("note uniq%dx%d", w, i)}}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	per := workers / 2 * each
	for _, task := range tasks {
		fbs, err := s.ListFeedback(ctx, task)
		if err != nil || len(fbs) != per {
			t.Fatalf("%s: %d feedback records (%v), want %d", task, len(fbs), err, per)
		}
		ls, err := s.Lessons(ctx, task)
		if err != nil || len(ls) != per+1 {
			t.Fatalf("%s: %d lessons (%v), want %d", task, len(ls), err, per+1)
		}
		l, _ := s.Lesson(ctx, task, shared[task])
		if l.Helpful != int64(per) {
			t.Fatalf("%s: shared lesson helpful = %d, want %d", task, l.Helpful, per)
		}
		var notes int
		s.EachNote(ctx, task, func(Note) error { notes++; return nil })
		if notes != per {
			t.Fatalf("%s: %d notes, want %d", task, notes, per)
		}
		// The index agrees: document frequencies and statistics count every write.
		s.db.View(func(txn *badger.Txn) error {
			ix := s.newIndexer(task)
			df, _ := ix.docFreq(txn, termRef{task, KindLesson, "lesson"})
			st, _ := ix.stats(txn, KindNote)
			if df != uint64(per+1) || st.Docs != uint64(per) {
				t.Errorf("%s: df(lesson) = %d, note docs = %d; want %d, %d", task, df, st.Docs, per+1, per)
			}
			return nil
		})
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := openTest(t, "")
	mustTask(t, src, "rt")
	fb, _ := src.RecordFeedback(ctx, Feedback{Task: "rt", Input: "q", Output: "a", Score: 1})
	l, _ := src.AddLesson(ctx, Lesson{Task: "rt", Text: "Be exact.", Feedback: []uint64{fb.ID}})
	ds, _ := src.AddDemos(ctx, "rt", []Demo{{Input: "in", Output: "out"}})
	ns, _ := src.AddNotes(ctx, "rt", []Note{{Text: "Mount Kenya is 5199 m high."}})
	c, err := src.AddCandidate(ctx, Candidate{Task: "rt", System: "sys", Lessons: []uint64{l.ID}, Demos: []uint64{ds[0].ID},
		Notes: []uint64{ns[0].ID}, Scores: map[string]float64{"v": 1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Promote(ctx, "rt", c.ID, PromoteOptions{}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := src.Export(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	var doc Document
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("export is not valid JSON: %v\n%s", err, buf.String())
	}
	dst := openTest(t, "")
	sum, err := dst.Import(ctx, bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Tasks) != 1 || sum.Lessons != 1 || sum.Notes != 1 || sum.Versions != 1 || sum.Feedback != 1 {
		t.Fatalf("summary = %+v", sum)
	}
	cur, err := dst.Current(ctx, "rt")
	if err != nil || cur.Candidate != c.ID {
		t.Fatalf("imported current = %+v, %v", cur, err)
	}
	var again bytes.Buffer
	if err := dst.Export(ctx, &again); err != nil {
		t.Fatal(err)
	}
	var doc2 Document
	json.Unmarshal(again.Bytes(), &doc2)
	doc2.Exported = doc.Exported
	a, _ := json.Marshal(doc)
	b, _ := json.Marshal(doc2)
	if !bytes.Equal(a, b) {
		t.Fatalf("re-export differs:\n%s\n%s", a, b)
	}
	if _, err := dst.Import(ctx, bytes.NewReader(buf.Bytes())); !errors.Is(err, ErrTaskExists) {
		t.Fatalf("second import = %v, want ErrTaskExists", err)
	}
	// New ids in the destination do not collide with imported ones.
	l2, err := dst.AddLesson(ctx, Lesson{Task: "rt", Text: "new"})
	if err != nil || l2.ID <= c.ID {
		t.Fatalf("new lesson id %d, imported max %d (%v)", l2.ID, c.ID, err)
	}
}

func TestImportMalformed(t *testing.T) {
	ctx := context.Background()
	good := func(mut func(m map[string]any)) string {
		doc := map[string]any{"format": ExportFormat, "schema": schemaVersion, "exported": "2025-01-01T00:00:00Z",
			"tasks": []any{map[string]any{
				"task":       map[string]any{"name": "imp", "created": "2025-01-01T00:00:00Z"},
				"current":    1,
				"versions":   []any{map[string]any{"seq": 1, "task": "imp", "candidate": 10, "action": "promote", "evidence": map[string]any{"instances": 0, "score": 0, "baseline": 0}, "created": "2025-01-01T00:00:00Z"}},
				"candidates": []any{map[string]any{"id": 10, "task": "imp", "system": "s", "lessons": []any{11}, "generation": 0, "created": "2025-01-01T00:00:00Z"}},
				"lessons":    []any{map[string]any{"id": 11, "task": "imp", "text": "t", "helpful": 0, "harmful": 0, "created": "2025-01-01T00:00:00Z"}},
				"demos":      []any{}, "notes": []any{}, "feedback": []any{},
			}}}
		if mut != nil {
			mut(doc)
		}
		b, _ := json.Marshal(doc)
		return string(b)
	}
	task := func(m map[string]any) map[string]any { return m["tasks"].([]any)[0].(map[string]any) }
	cases := map[string]string{
		"not json":        "this is not json",
		"truncated":       good(nil)[:80],
		"trailing data":   good(nil) + `{"more":1}`,
		"wrong format":    good(func(m map[string]any) { m["format"] = "other" }),
		"future schema":   good(func(m map[string]any) { m["schema"] = 7 }),
		"unknown field":   good(func(m map[string]any) { m["extra"] = true }),
		"bad task name":   good(func(m map[string]any) { task(m)["task"].(map[string]any)["name"] = "a/b" }),
		"dangling lesson": good(func(m map[string]any) { task(m)["lessons"] = []any{} }),
		"dangling current": good(func(m map[string]any) {
			task(m)["current"] = 5
		}),
		"duplicate ids": good(func(m map[string]any) {
			l := task(m)["lessons"].([]any)
			task(m)["lessons"] = append(l, l[0])
		}),
		"record of another task": good(func(m map[string]any) {
			task(m)["lessons"].([]any)[0].(map[string]any)["task"] = "other"
		}),
		"wrong type": good(func(m map[string]any) { task(m)["current"] = "one" }),
	}
	s := openTest(t, "")
	mustTask(t, s, "existing")
	var before bytes.Buffer
	s.Export(ctx, &before)
	if _, err := s.Import(ctx, strings.NewReader(good(nil))); err != nil {
		t.Fatalf("the well-formed document fails: %v", err)
	}
	for name, text := range cases {
		t.Run(name, func(t *testing.T) {
			s := openTest(t, "")
			mustTask(t, s, "existing")
			_, err := s.Import(ctx, strings.NewReader(text))
			if !errors.Is(err, ErrMalformedImport) {
				t.Fatalf("Import = %v, want ErrMalformedImport", err)
			}
			tasks, _ := s.Tasks(ctx)
			if len(tasks) != 1 || tasks[0].Name != "existing" {
				t.Fatalf("tasks after failed import = %+v", tasks)
			}
		})
	}
}

func TestImportAfterInterruptedImport(t *testing.T) {
	ctx := context.Background()
	src := openTest(t, "")
	mustTask(t, src, "x")
	if _, err := src.AddNotes(ctx, "x", []Note{{Text: "alpha beta"}, {Text: "beta gamma"}}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := src.Export(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	dst := openTest(t, "")
	// Simulate a crash after the records but before the task record: import
	// then delete only the task key.
	if _, err := dst.Import(ctx, bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if err := dst.db.Update(func(txn *badger.Txn) error { return txn.Delete(taskKey("x")) }); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Import(ctx, bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatalf("re-import: %v", err)
	}
	dst.db.View(func(txn *badger.Txn) error {
		ix := dst.newIndexer("x")
		df, _ := ix.docFreq(txn, termRef{"x", KindNote, "beta"})
		st, _ := ix.stats(txn, KindNote)
		if df != 2 || st.Docs != 2 {
			t.Errorf("after re-import df(beta) = %d, docs = %d; want 2, 2", df, st.Docs)
		}
		return nil
	})
}
