package prompts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

func now() time.Time { return time.Now().UTC() }

func requireTask(txn *badger.Txn, task string) error {
	if err := validTaskName(task); err != nil {
		return err
	}
	_, err := txn.Get(taskKey(task))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return fmt.Errorf("%w %q", ErrUnknownTask, task)
	}
	return err
}

// CreateTask adds a task. It fails with ErrTaskExists if the name is taken.
func (s *Store) CreateTask(ctx context.Context, t Task) (Task, error) {
	if err := validTaskName(t.Name); err != nil {
		return Task{}, fmt.Errorf("create task: %w", err)
	}
	if t.Created.IsZero() {
		t.Created = now()
	}
	err := s.update(ctx, func(txn *badger.Txn) error {
		if _, err := txn.Get(taskKey(t.Name)); err == nil {
			return fmt.Errorf("%w: %q", ErrTaskExists, t.Name)
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		return putJSON(txn, taskKey(t.Name), t)
	})
	if err != nil {
		return Task{}, fmt.Errorf("create task: %w", err)
	}
	return t, nil
}

// EnsureTask returns the task called name, creating it if needed.
func (s *Store) EnsureTask(ctx context.Context, name, description string) (Task, error) {
	t, err := s.Task(ctx, name)
	if err == nil {
		return t, nil
	}
	if !errors.Is(err, ErrUnknownTask) {
		return Task{}, err
	}
	t, err = s.CreateTask(ctx, Task{Name: name, Description: description})
	if errors.Is(err, ErrTaskExists) {
		return s.Task(ctx, name)
	}
	return t, err
}

// Task returns the task called name, or ErrUnknownTask.
func (s *Store) Task(ctx context.Context, name string) (Task, error) {
	var t Task
	err := s.view(ctx, func(txn *badger.Txn) error {
		if err := requireTask(txn, name); err != nil {
			return err
		}
		return getJSON(txn, taskKey(name), &t)
	})
	if err != nil {
		return Task{}, fmt.Errorf("task: %w", err)
	}
	return t, nil
}

// Tasks lists all tasks by name.
func (s *Store) Tasks(ctx context.Context) ([]Task, error) {
	var out []Task
	err := s.view(ctx, func(txn *badger.Txn) error {
		return scanJSON(txn, []byte(pfxTask), func(t *Task) error { out = append(out, *t); return nil })
	})
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	return out, nil
}

// getRecord reads one JSON record of a task.
func getRecord[T any](s *Store, ctx context.Context, what, pfx, task string, id uint64) (T, error) {
	var v T
	err := s.view(ctx, func(txn *badger.Txn) error {
		if err := requireTask(txn, task); err != nil {
			return err
		}
		if err := getJSON(txn, idKey(pfx, task, id), &v); err != nil {
			if errors.Is(err, ErrNotFound) {
				return fmt.Errorf("%w: %s %d", ErrNotFound, what, id)
			}
			return err
		}
		return nil
	})
	if err != nil {
		return v, fmt.Errorf("%s %s/%d: %w", what, task, id, err)
	}
	return v, nil
}

// listRecords reads all JSON records of a task with prefix pfx, by id.
func listRecords[T any](s *Store, ctx context.Context, what, pfx, task string) ([]T, error) {
	var out []T
	err := s.view(ctx, func(txn *badger.Txn) error {
		if err := requireTask(txn, task); err != nil {
			return err
		}
		return scanJSON(txn, taskPrefix(pfx, task), func(v *T) error { out = append(out, *v); return nil })
	})
	if err != nil {
		return nil, fmt.Errorf("list %ss of %s: %w", what, task, err)
	}
	return out, nil
}

// addIndexed stores items with fresh ids and indexes them, in atomic chunks.
func addIndexed[T any](s *Store, ctx context.Context, what, task string, items []T,
	prep func(v *T, id uint64, at time.Time) error, key func(v *T) []byte, text func(v *T) (string, bool), k Kind) ([]T, error) {
	if len(items) == 0 {
		return nil, nil
	}
	out := make([]T, len(items))
	copy(out, items)
	first, err := s.newIDs(len(out))
	if err != nil {
		return nil, fmt.Errorf("add %ss to %s: %w", what, task, err)
	}
	at := now()
	for i := range out {
		if err := prep(&out[i], first+uint64(i), at); err != nil {
			return nil, fmt.Errorf("add %ss to %s: item %d: %w", what, task, i, err)
		}
	}
	err = s.writeChunked(ctx, task, len(out), func(i int) int {
		t, _ := text(&out[i])
		return len(t)/4 + 1
	}, func(txn *badger.Txn, ix *indexer, i int) error {
		b, err := json.Marshal(&out[i])
		if err != nil {
			return err
		}
		if err := ix.set(txn, key(&out[i]), b); err != nil {
			return err
		}
		if t, ok := text(&out[i]); ok {
			return ix.add(txn, k, recordID(&out[i]), t)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("add %ss to %s: %w", what, task, err)
	}
	return out, nil
}

func recordID(v any) uint64 {
	switch r := v.(type) {
	case *Lesson:
		return r.ID
	case *Demo:
		return r.ID
	case *Note:
		return r.ID
	}
	return 0
}

func checkText(what, text string) error {
	if strings.TrimSpace(text) == "" {
		return fmt.Errorf("%w: empty %s", ErrInvalid, what)
	}
	return nil
}

// AddLessons stores lessons for task with fresh ids and makes them
// searchable. Counts, ids and creation times in the input are replaced
// except Helpful and Harmful, which may seed the counts (imports use them).
func (s *Store) AddLessons(ctx context.Context, task string, lessons []Lesson) ([]Lesson, error) {
	return addIndexed(s, ctx, "lesson", task, lessons,
		func(l *Lesson, id uint64, at time.Time) error {
			l.ID, l.Task, l.Created = id, task, at
			return checkText("lesson text", l.Text)
		},
		func(l *Lesson) []byte { return idKey(pfxLesson, task, l.ID) },
		func(l *Lesson) (string, bool) { return l.Text, true }, KindLesson)
}

// AddLesson stores one lesson; see AddLessons.
func (s *Store) AddLesson(ctx context.Context, l Lesson) (Lesson, error) {
	out, err := s.AddLessons(ctx, l.Task, []Lesson{l})
	if err != nil {
		return Lesson{}, err
	}
	return out[0], nil
}

// Lesson returns one lesson.
func (s *Store) Lesson(ctx context.Context, task string, id uint64) (Lesson, error) {
	return getRecord[Lesson](s, ctx, "lesson", pfxLesson, task, id)
}

// Lessons returns all lessons of task, by id.
func (s *Store) Lessons(ctx context.Context, task string) ([]Lesson, error) {
	return listRecords[Lesson](s, ctx, "lesson", pfxLesson, task)
}

// CountLesson adds to a lesson's helpful and harmful counts atomically and
// returns the updated lesson.
func (s *Store) CountLesson(ctx context.Context, task string, id uint64, helpful, harmful int64) (Lesson, error) {
	var l Lesson
	err := s.update(ctx, func(txn *badger.Txn) error {
		if err := requireTask(txn, task); err != nil {
			return err
		}
		key := idKey(pfxLesson, task, id)
		if err := getJSON(txn, key, &l); err != nil {
			if errors.Is(err, ErrNotFound) {
				return fmt.Errorf("%w: lesson %d", ErrNotFound, id)
			}
			return err
		}
		l.Helpful += helpful
		l.Harmful += harmful
		return putJSON(txn, key, &l)
	})
	if err != nil {
		return Lesson{}, fmt.Errorf("count lesson %s/%d: %w", task, id, err)
	}
	return l, nil
}

// demoText is what a demo is indexed and searched by.
func demoText(d *Demo) string { return d.Input + "\n" + d.Output }

// AddDemos stores demos for task with fresh ids and makes them searchable.
func (s *Store) AddDemos(ctx context.Context, task string, demos []Demo) ([]Demo, error) {
	return addIndexed(s, ctx, "demo", task, demos,
		func(d *Demo, id uint64, at time.Time) error {
			d.ID, d.Task, d.Created = id, task, at
			return checkText("demo input", d.Input)
		},
		func(d *Demo) []byte { return idKey(pfxDemo, task, d.ID) },
		func(d *Demo) (string, bool) { return demoText(d), true }, KindDemo)
}

// Demo returns one demo.
func (s *Store) Demo(ctx context.Context, task string, id uint64) (Demo, error) {
	return getRecord[Demo](s, ctx, "demo", pfxDemo, task, id)
}

// Demos returns all demos of task, by id.
func (s *Store) Demos(ctx context.Context, task string) ([]Demo, error) {
	return listRecords[Demo](s, ctx, "demo", pfxDemo, task)
}

// AddNotes stores notes for task with fresh ids, in atomic chunks (a batch
// of any size is fine). Notes that are not Pending become searchable at once.
func (s *Store) AddNotes(ctx context.Context, task string, notes []Note) ([]Note, error) {
	return addIndexed(s, ctx, "note", task, notes,
		func(n *Note, id uint64, at time.Time) error {
			n.ID, n.Task, n.Created = id, task, at
			return checkText("note text", n.Text)
		},
		func(n *Note) []byte { return idKey(pfxNote, task, n.ID) },
		func(n *Note) (string, bool) { return n.Text, !n.Pending }, KindNote)
}

// AddNote stores one note; see AddNotes.
func (s *Store) AddNote(ctx context.Context, n Note) (Note, error) {
	out, err := s.AddNotes(ctx, n.Task, []Note{n})
	if err != nil {
		return Note{}, err
	}
	return out[0], nil
}

// Note returns one note.
func (s *Store) Note(ctx context.Context, task string, id uint64) (Note, error) {
	return getRecord[Note](s, ctx, "note", pfxNote, task, id)
}

// EachNote calls fn for every note of task, by id, stopping at fn's first
// error. Use it rather than loading millions of notes at once.
func (s *Store) EachNote(ctx context.Context, task string, fn func(Note) error) error {
	err := s.view(ctx, func(txn *badger.Txn) error {
		if err := requireTask(txn, task); err != nil {
			return err
		}
		return scanJSON(txn, taskPrefix(pfxNote, task), func(n *Note) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return fn(*n)
		})
	})
	if err != nil {
		return fmt.Errorf("notes of %s: %w", task, err)
	}
	return nil
}

// DeleteNote removes a note and its postings.
func (s *Store) DeleteNote(ctx context.Context, task string, id uint64) error {
	err := s.writeChunked(ctx, task, 1, func(int) int { return 64 }, func(txn *badger.Txn, ix *indexer, _ int) error {
		key := idKey(pfxNote, task, id)
		if _, err := txn.Get(key); errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("%w: note %d", ErrNotFound, id)
		} else if err != nil {
			return err
		}
		if err := ix.remove(txn, KindNote, id); err != nil {
			return err
		}
		return ix.del(txn, key)
	})
	if err != nil {
		return fmt.Errorf("delete note %s/%d: %w", task, id, err)
	}
	return nil
}

// RecordFeedback stores a feedback record with a fresh id.
func (s *Store) RecordFeedback(ctx context.Context, fb Feedback) (Feedback, error) {
	out, err := s.recordFeedback(ctx, fb.Task, []Feedback{fb})
	if err != nil {
		return Feedback{}, err
	}
	return out[0], nil
}

func (s *Store) recordFeedback(ctx context.Context, task string, fbs []Feedback) ([]Feedback, error) {
	if len(fbs) == 0 {
		return nil, nil
	}
	first, err := s.newIDs(len(fbs))
	if err != nil {
		return nil, fmt.Errorf("record feedback for %s: %w", task, err)
	}
	out := make([]Feedback, len(fbs))
	at := now()
	for i, fb := range fbs {
		fb.ID, fb.Task, fb.Created = first+uint64(i), task, at
		out[i] = fb
	}
	err = s.update(ctx, func(txn *badger.Txn) error {
		if err := requireTask(txn, task); err != nil {
			return err
		}
		for i := range out {
			if err := putJSON(txn, idKey(pfxFeedback, task, out[i].ID), &out[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("record feedback for %s: %w", task, err)
	}
	return out, nil
}

// Feedback returns one feedback record.
func (s *Store) Feedback(ctx context.Context, task string, id uint64) (Feedback, error) {
	return getRecord[Feedback](s, ctx, "feedback", pfxFeedback, task, id)
}

// ListFeedback returns all feedback records of task, by id.
func (s *Store) ListFeedback(ctx context.Context, task string) ([]Feedback, error) {
	return listRecords[Feedback](s, ctx, "feedback", pfxFeedback, task)
}

// checkRefs verifies that every id in ids is a record under pfx of task.
func checkRefs(txn *badger.Txn, what, pfx, task string, ids []uint64) error {
	for _, id := range ids {
		if _, err := txn.Get(idKey(pfx, task, id)); errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("%w: %s %d", ErrNotFound, what, id)
		} else if err != nil {
			return err
		}
	}
	return nil
}

// AddCandidate stores a candidate with a fresh id. Its lessons, demos,
// notes and parents must exist in the task.
func (s *Store) AddCandidate(ctx context.Context, c Candidate) (Candidate, error) {
	id, err := s.newIDs(1)
	if err != nil {
		return Candidate{}, fmt.Errorf("add candidate: %w", err)
	}
	c.ID, c.Created = id, now()
	c.Scores = maps.Clone(c.Scores)
	err = s.update(ctx, func(txn *badger.Txn) error { return putCandidate(txn, &c) })
	if err != nil {
		return Candidate{}, fmt.Errorf("add candidate to %s: %w", c.Task, err)
	}
	return c, nil
}

func putCandidate(txn *badger.Txn, c *Candidate) error {
	if err := requireTask(txn, c.Task); err != nil {
		return err
	}
	if err := checkRefs(txn, "lesson", pfxLesson, c.Task, c.Lessons); err != nil {
		return err
	}
	if err := checkRefs(txn, "demo", pfxDemo, c.Task, c.Demos); err != nil {
		return err
	}
	if err := checkRefs(txn, "note", pfxNote, c.Task, c.Notes); err != nil {
		return err
	}
	if err := checkRefs(txn, "parent candidate", pfxCandidate, c.Task, c.Parents); err != nil {
		return err
	}
	return putJSON(txn, idKey(pfxCandidate, c.Task, c.ID), c)
}

// Candidate returns one candidate.
func (s *Store) Candidate(ctx context.Context, task string, id uint64) (Candidate, error) {
	return getRecord[Candidate](s, ctx, "candidate", pfxCandidate, task, id)
}

// Candidates returns all candidates of task, by id.
func (s *Store) Candidates(ctx context.Context, task string) ([]Candidate, error) {
	return listRecords[Candidate](s, ctx, "candidate", pfxCandidate, task)
}

// SetScores merges validation scores (by instance id) into a candidate.
func (s *Store) SetScores(ctx context.Context, task string, id uint64, scores map[string]float64) (Candidate, error) {
	var c Candidate
	err := s.update(ctx, func(txn *badger.Txn) error {
		var err error
		c, err = mergeScores(txn, task, id, scores)
		return err
	})
	if err != nil {
		return Candidate{}, fmt.Errorf("set scores of candidate %s/%d: %w", task, id, err)
	}
	return c, nil
}

func mergeScores(txn *badger.Txn, task string, id uint64, scores map[string]float64) (Candidate, error) {
	var c Candidate
	if err := requireTask(txn, task); err != nil {
		return c, err
	}
	key := idKey(pfxCandidate, task, id)
	if err := getJSON(txn, key, &c); err != nil {
		if errors.Is(err, ErrNotFound) {
			return c, fmt.Errorf("%w: candidate %d", ErrNotFound, id)
		}
		return c, err
	}
	if c.Scores == nil {
		c.Scores = map[string]float64{}
	}
	maps.Copy(c.Scores, scores)
	return c, putJSON(txn, key, &c)
}

// scanDocs calls fn with the id, searchable text and pending flag of every
// record of kind k in task.
func scanDocs(txn *badger.Txn, task string, k Kind, fn func(id uint64, text string, pending bool) error) error {
	prefix := taskPrefix(recordPrefix(k), task)
	switch k {
	case KindNote:
		return scanJSON(txn, prefix, func(n *Note) error { return fn(n.ID, n.Text, n.Pending) })
	case KindDemo:
		return scanJSON(txn, prefix, func(d *Demo) error { return fn(d.ID, demoText(d), false) })
	default:
		return scanJSON(txn, prefix, func(l *Lesson) error { return fn(l.ID, l.Text, false) })
	}
}
