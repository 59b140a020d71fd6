package prompts

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// ExportFormat names the JSON document Export writes.
const ExportFormat = "fastslow-prompts"

// Document is the JSON form of a store (or some of its tasks), as written
// by Export and read by Import. Indexes, cached embeddings and optimizer
// runs are not part of it: the first two are rebuilt, runs are transient.
type Document struct {
	Format   string         `json:"format"`
	Schema   int            `json:"schema"`
	Exported time.Time      `json:"exported"`
	Tasks    []TaskDocument `json:"tasks"`
}

// TaskDocument is one task with all its records.
type TaskDocument struct {
	Task       Task        `json:"task"`
	Current    uint64      `json:"current,omitempty"`
	Versions   []Version   `json:"versions"`
	Candidates []Candidate `json:"candidates"`
	Lessons    []Lesson    `json:"lessons"`
	Demos      []Demo      `json:"demos"`
	Notes      []Note      `json:"notes"`
	Feedback   []Feedback  `json:"feedback"`
}

// Export writes the named tasks (all tasks if none are named) as one JSON
// Document to w. Records are streamed from a single consistent snapshot, so
// large stores export in bounded memory.
func (s *Store) Export(ctx context.Context, w io.Writer, tasks ...string) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	err := s.view(ctx, func(txn *badger.Txn) error {
		if len(tasks) == 0 {
			if err := scanJSON(txn, []byte(pfxTask), func(t *Task) error { tasks = append(tasks, t.Name); return nil }); err != nil {
				return err
			}
		}
		for _, t := range tasks {
			if err := requireTask(txn, t); err != nil {
				return err
			}
		}
		head, err := json.Marshal(struct {
			Format   string    `json:"format"`
			Schema   int       `json:"schema"`
			Exported time.Time `json:"exported"`
		}{ExportFormat, schemaVersion, now()})
		if err != nil {
			return err
		}
		bw.Write(head[:len(head)-1])
		bw.WriteString(`,"tasks":[`)
		for i, t := range tasks {
			if i > 0 {
				bw.WriteString(",\n")
			}
			if err := exportTask(ctx, txn, bw, t); err != nil {
				return fmt.Errorf("task %s: %w", t, err)
			}
		}
		_, err = bw.WriteString("]}\n")
		return err
	})
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

func exportTask(ctx context.Context, txn *badger.Txn, w *bufio.Writer, task string) error {
	var t Task
	if err := getJSON(txn, taskKey(task), &t); err != nil {
		return err
	}
	p, err := getPointer(txn, task)
	if err != nil {
		return err
	}
	tb, err := json.Marshal(t)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, `{"task":%s,"current":%d`, tb, p.Current)
	sections := []struct{ name, pfx string }{
		{"versions", pfxVersion}, {"candidates", pfxCandidate}, {"lessons", pfxLesson},
		{"demos", pfxDemo}, {"notes", pfxNote}, {"feedback", pfxFeedback},
	}
	for _, sec := range sections {
		fmt.Fprintf(w, ",\n%q:[", sec.name)
		prefix := taskPrefix(sec.pfx, task)
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 64, Prefix: prefix})
		n := 0
		for it.Rewind(); it.ValidForPrefix(prefix); it.Next() {
			if n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					it.Close()
					return err
				}
			}
			if n > 0 {
				w.WriteString(",\n")
			}
			n++
			if err := it.Item().Value(func(b []byte) error { _, err := w.Write(b); return err }); err != nil {
				it.Close()
				return err
			}
		}
		it.Close()
		w.WriteString("]")
	}
	_, err = w.WriteString("}")
	return err
}

// ImportSummary counts what Import wrote.
type ImportSummary struct {
	Tasks      []string `json:"tasks"`
	Versions   int      `json:"versions"`
	Candidates int      `json:"candidates"`
	Lessons    int      `json:"lessons"`
	Demos      int      `json:"demos"`
	Notes      int      `json:"notes"`
	Feedback   int      `json:"feedback"`
}

// Import reads a Document and adds its tasks to the store, keeping record
// ids. The whole document is parsed and validated first: a document that
// does not parse, has unknown fields, dangling references or duplicate ids
// fails with ErrMalformedImport, and one naming a task the store already has
// fails with ErrTaskExists — in both cases nothing is written. A task's
// record is written last, and a journal names the document's tasks until
// all are written: an import that fails, or is killed, leaves none of them
// (a killed one is undone when the store is next opened for writing), and
// can simply be run again.
func (s *Store) Import(ctx context.Context, r io.Reader) (ImportSummary, error) {
	var sum ImportSummary
	doc, err := decodeDocument(r)
	if err != nil {
		return sum, fmt.Errorf("import: %w", err)
	}
	var maxID uint64
	for i := range doc.Tasks {
		id, err := validateTask(&doc.Tasks[i])
		if err != nil {
			return sum, fmt.Errorf("import: %w: task %d (%q): %v", ErrMalformedImport, i, doc.Tasks[i].Task.Name, err)
		}
		maxID = max(maxID, id)
	}
	err = s.view(ctx, func(txn *badger.Txn) error {
		for _, td := range doc.Tasks {
			if _, err := txn.Get(taskKey(td.Task.Name)); err == nil {
				return fmt.Errorf("%w: %q", ErrTaskExists, td.Task.Name)
			} else if !errors.Is(err, badger.ErrKeyNotFound) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return sum, fmt.Errorf("import: %w", err)
	}
	if err := s.reserveThrough(maxID); err != nil {
		return sum, fmt.Errorf("import: %w", err)
	}
	// The journal names the document's tasks until all are written: a
	// failed import removes them here, a killed one when the store is next
	// opened for writing.
	names := make([]string, len(doc.Tasks))
	for i := range doc.Tasks {
		names[i] = doc.Tasks[i].Task.Name
	}
	if err := s.journalImport(ctx, names, false); err != nil {
		return sum, fmt.Errorf("import: %w", err)
	}
	for i := range doc.Tasks {
		td := &doc.Tasks[i]
		if err := s.importTask(ctx, td); err != nil {
			err = fmt.Errorf("import task %s: %w", td.Task.Name, err)
			if uerr := s.finishImports(context.WithoutCancel(ctx)); uerr != nil {
				err = errors.Join(err, uerr)
			}
			return ImportSummary{}, err
		}
		sum.Tasks = append(sum.Tasks, td.Task.Name)
		sum.Versions += len(td.Versions)
		sum.Candidates += len(td.Candidates)
		sum.Lessons += len(td.Lessons)
		sum.Demos += len(td.Demos)
		sum.Notes += len(td.Notes)
		sum.Feedback += len(td.Feedback)
	}
	if err := s.journalImport(ctx, names, true); err != nil {
		return sum, fmt.Errorf("import: %w", err)
	}
	return sum, nil
}

func decodeDocument(r io.Reader) (*Document, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var doc Document
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedImport, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the document", ErrMalformedImport)
	}
	if doc.Format != ExportFormat {
		return nil, fmt.Errorf("%w: format %q, want %q", ErrMalformedImport, doc.Format, ExportFormat)
	}
	if doc.Schema != schemaVersion {
		return nil, fmt.Errorf("%w: schema %d, this build reads %d", ErrMalformedImport, doc.Schema, schemaVersion)
	}
	seen := map[string]bool{}
	for i, td := range doc.Tasks {
		if seen[td.Task.Name] {
			return nil, fmt.Errorf("%w: task %d: duplicate task %q", ErrMalformedImport, i, td.Task.Name)
		}
		seen[td.Task.Name] = true
	}
	return &doc, nil
}

// validateTask checks one task document and returns its largest record id.
func validateTask(td *TaskDocument) (uint64, error) {
	name := td.Task.Name
	if err := validTaskName(name); err != nil {
		return 0, err
	}
	var maxID uint64
	ids := func(what string, n int, get func(i int) (uint64, string)) (map[uint64]bool, error) {
		set := make(map[uint64]bool, n)
		for i := range n {
			id, task := get(i)
			if id == 0 {
				return nil, fmt.Errorf("%s %d has id 0", what, i)
			}
			if set[id] {
				return nil, fmt.Errorf("duplicate %s id %d", what, id)
			}
			if task != name {
				return nil, fmt.Errorf("%s %d belongs to task %q", what, id, task)
			}
			set[id] = true
			maxID = max(maxID, id)
		}
		return set, nil
	}
	lessons, err := ids("lesson", len(td.Lessons), func(i int) (uint64, string) { return td.Lessons[i].ID, td.Lessons[i].Task })
	if err != nil {
		return 0, err
	}
	demos, err := ids("demo", len(td.Demos), func(i int) (uint64, string) { return td.Demos[i].ID, td.Demos[i].Task })
	if err != nil {
		return 0, err
	}
	notes, err := ids("note", len(td.Notes), func(i int) (uint64, string) { return td.Notes[i].ID, td.Notes[i].Task })
	if err != nil {
		return 0, err
	}
	fbs, err := ids("feedback", len(td.Feedback), func(i int) (uint64, string) { return td.Feedback[i].ID, td.Feedback[i].Task })
	if err != nil {
		return 0, err
	}
	cands, err := ids("candidate", len(td.Candidates), func(i int) (uint64, string) { return td.Candidates[i].ID, td.Candidates[i].Task })
	if err != nil {
		return 0, err
	}
	refs := func(what string, owner uint64, list []uint64, set map[uint64]bool) error {
		for _, id := range list {
			if !set[id] {
				return fmt.Errorf("%d refers to missing %s %d", owner, what, id)
			}
		}
		return nil
	}
	for _, l := range td.Lessons {
		if err := checkText("lesson text", l.Text); err != nil {
			return 0, fmt.Errorf("lesson %d: %v", l.ID, err)
		}
		if err := refs("feedback", l.ID, l.Feedback, fbs); err != nil {
			return 0, fmt.Errorf("lesson %v", err)
		}
		if l.Replaces != 0 && !lessons[l.Replaces] {
			return 0, fmt.Errorf("lesson %d replaces missing lesson %d", l.ID, l.Replaces)
		}
	}
	for _, d := range td.Demos {
		if err := checkText("demo input", d.Input); err != nil {
			return 0, fmt.Errorf("demo %d: %v", d.ID, err)
		}
		if err := refs("feedback", d.ID, d.Feedback, fbs); err != nil {
			return 0, fmt.Errorf("demo %v", err)
		}
	}
	for _, n := range td.Notes {
		if err := checkText("note text", n.Text); err != nil {
			return 0, fmt.Errorf("note %d: %v", n.ID, err)
		}
		if err := refs("feedback", n.ID, n.Feedback, fbs); err != nil {
			return 0, fmt.Errorf("note %v", err)
		}
	}
	for _, c := range td.Candidates {
		for _, r := range []struct {
			what string
			list []uint64
			set  map[uint64]bool
		}{{"lesson", c.Lessons, lessons}, {"demo", c.Demos, demos}, {"note", c.Notes, notes}, {"parent", c.Parents, cands}} {
			if err := refs(r.what, c.ID, r.list, r.set); err != nil {
				return 0, fmt.Errorf("candidate %v", err)
			}
		}
	}
	seqs := map[uint64]bool{}
	for _, v := range td.Versions {
		if v.Seq == 0 || seqs[v.Seq] {
			return 0, fmt.Errorf("version seq %d is zero or duplicate", v.Seq)
		}
		if v.Task != name {
			return 0, fmt.Errorf("version %d belongs to task %q", v.Seq, v.Task)
		}
		if !cands[v.Candidate] {
			return 0, fmt.Errorf("version %d refers to missing candidate %d", v.Seq, v.Candidate)
		}
		if v.Action != ActionPromote && v.Action != ActionRollback {
			return 0, fmt.Errorf("version %d has unknown action %q", v.Seq, v.Action)
		}
		seqs[v.Seq] = true
	}
	for _, v := range td.Versions {
		if v.Previous != 0 && !seqs[v.Previous] || v.Restores != 0 && !seqs[v.Restores] {
			return 0, fmt.Errorf("version %d refers to a missing version", v.Seq)
		}
	}
	if td.Current != 0 && !seqs[td.Current] || td.Current == 0 && len(td.Versions) > 0 {
		return 0, fmt.Errorf("current version %d is not among the %d versions", td.Current, len(td.Versions))
	}
	return maxID, nil
}

func (s *Store) importTask(ctx context.Context, td *TaskDocument) error {
	task := td.Task.Name
	// Keys left by an interrupted import of this task are garbage: the
	// task record, written last, never made them visible.
	if err := s.dropOrphans(ctx, task); err != nil {
		return err
	}
	type rec struct {
		key  []byte
		val  any
		kind Kind
		id   uint64
		text string
	}
	var recs []rec
	for i := range td.Lessons {
		l := &td.Lessons[i]
		recs = append(recs, rec{idKey(pfxLesson, task, l.ID), l, KindLesson, l.ID, l.Text})
	}
	for i := range td.Demos {
		d := &td.Demos[i]
		recs = append(recs, rec{idKey(pfxDemo, task, d.ID), d, KindDemo, d.ID, demoText(d)})
	}
	for i := range td.Notes {
		n := &td.Notes[i]
		r := rec{idKey(pfxNote, task, n.ID), n, KindNote, n.ID, n.Text}
		if n.Pending {
			r.kind = 0
		}
		recs = append(recs, r)
	}
	for i := range td.Feedback {
		recs = append(recs, rec{key: idKey(pfxFeedback, task, td.Feedback[i].ID), val: &td.Feedback[i]})
	}
	for i := range td.Candidates {
		recs = append(recs, rec{key: idKey(pfxCandidate, task, td.Candidates[i].ID), val: &td.Candidates[i]})
	}
	var last uint64
	for i := range td.Versions {
		v := &td.Versions[i]
		last = max(last, v.Seq)
		recs = append(recs, rec{key: idKey(pfxVersion, task, v.Seq), val: v})
	}
	if len(td.Versions) > 0 {
		recs = append(recs, rec{key: pointerKey(task), val: pointer{Current: td.Current, Last: last}})
	}
	t := td.Task
	if t.Created.IsZero() {
		t.Created = now()
	}
	recs = append(recs, rec{key: taskKey(task), val: t})
	err := s.chunked(ctx, task, false, len(recs), func(i int) int { return len(recs[i].text)/4 + 1 },
		func(txn *badger.Txn, ix *indexer, i int) error {
			b, err := json.Marshal(recs[i].val)
			if err != nil {
				return err
			}
			if err := ix.set(txn, recs[i].key, b); err != nil {
				return err
			}
			if recs[i].kind != 0 {
				return ix.add(txn, recs[i].kind, recs[i].id, recs[i].text)
			}
			return nil
		})
	if err != nil {
		s.forgetTask(task)
		return err
	}
	return nil
}

// dropOrphans deletes every key of a task that has no task record.
func (s *Store) dropOrphans(ctx context.Context, task string) error {
	mu := s.taskLock(task)
	mu.Lock()
	defer mu.Unlock()
	s.forgetTask(task)
	prefixes := []string{pfxCandidate, pfxLesson, pfxDemo, pfxNote, pfxFeedback, pfxVersion, pfxRun, pfxRunData,
		pfxRunIter, pfxRollout, pfxPosting, pfxDF, pfxStats, pfxForward, pfxEmbed, pfxMark}
	for _, pfx := range prefixes {
		prefix := taskPrefix(pfx, task)
		for {
			var keys [][]byte
			err := s.view(ctx, func(txn *badger.Txn) error {
				if _, err := txn.Get(taskKey(task)); err == nil {
					return fmt.Errorf("%w: %q", ErrTaskExists, task)
				}
				it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
				defer it.Close()
				for it.Rewind(); it.ValidForPrefix(prefix) && len(keys) < 10000; it.Next() {
					keys = append(keys, it.Item().KeyCopy(nil))
				}
				return nil
			})
			if err != nil {
				return err
			}
			if len(keys) == 0 {
				break
			}
			wb := s.db.NewWriteBatch()
			for _, k := range keys {
				if err := wb.Delete(k); err != nil {
					wb.Cancel()
					return err
				}
			}
			if err := wb.Flush(); err != nil {
				return err
			}
		}
	}
	return s.update(ctx, func(txn *badger.Txn) error { return txn.Delete(pointerKey(task)) })
}
