package prompts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	badger "github.com/dgraph-io/badger/v4"
)

// A child candidate: storing it, scoring it on the validation set, accepting it and the gated promotion.

// and checkpoints the step, in one transaction.
func (o *Optimizer) createChild(ctx context.Context, step *Step, prop Proposal, trials []Trial) error {
	task := o.state.Task
	var failing []uint64
	for _, t := range trials {
		if t.Outcome.Score < 1 {
			failing = append(failing, t.Feedback)
		}
	}
	newDemos := 0
	for _, d := range prop.AddDemos {
		if d.ID == 0 {
			newDemos++
		}
	}
	n := len(prop.AddLessons) + len(prop.EditLessons) + newDemos + len(prop.AddNotes) + 1
	next, err := o.Store.newIDs(n)
	if err != nil {
		return err
	}
	at := now()
	var parent Candidate
	var lessons []Lesson
	var demos []Demo
	var notes []Note
	var child Candidate
	var newLessons []uint64
	err = o.checkpointIndexed(ctx, func(txn *badger.Txn, ix *indexer) error {
		// Assign ids afresh on every attempt of the transaction.
		cur := next
		id := func() uint64 { cur++; return cur - 1 }
		lessons, demos, notes, newLessons = nil, nil, nil, nil
		var err error
		if parent, err = getCandidate(txn, task, step.Parent); err != nil {
			return err
		}
		provenance := func(fb []uint64) []uint64 {
			fb = slices.DeleteFunc(slices.Clone(fb), func(id uint64) bool { return id == 0 })
			if len(fb) > 0 {
				return fb
			}
			return failing
		}
		lessonIDs := slices.Clone(parent.Lessons)
		for _, e := range prop.EditLessons {
			i := slices.Index(lessonIDs, e.ID)
			if i < 0 || strings.TrimSpace(e.Text) == "" {
				continue // a proposer may name a lesson the parent lacks
			}
			var old Lesson
			if err := getJSON(txn, idKey(pfxLesson, task, e.ID), &old); err != nil {
				return err
			}
			l := Lesson{ID: id(), Task: task, Text: strings.TrimSpace(e.Text), Section: old.Section, Source: step.Proposer,
				Feedback: provenance(nil), Replaces: e.ID, Created: at}
			lessons = append(lessons, l)
			lessonIDs[i] = l.ID
		}
		lessonIDs = slices.DeleteFunc(lessonIDs, func(x uint64) bool { return slices.Contains(prop.DropLessons, x) })
		for _, a := range prop.AddLessons {
			if strings.TrimSpace(a.Text) == "" {
				continue
			}
			l := Lesson{ID: id(), Task: task, Text: strings.TrimSpace(a.Text), Section: a.Section, Source: step.Proposer,
				Feedback: provenance(a.Feedback), Created: at}
			lessons = append(lessons, l)
			lessonIDs = append(lessonIDs, l.ID)
		}
		demoIDs := slices.DeleteFunc(slices.Clone(parent.Demos), func(x uint64) bool { return slices.Contains(prop.DropDemos, x) })
		for _, d := range prop.AddDemos {
			if d.ID != 0 {
				if !slices.Contains(demoIDs, d.ID) {
					demoIDs = append(demoIDs, d.ID)
				}
				continue
			}
			if strings.TrimSpace(d.Input) == "" {
				continue
			}
			d := Demo{ID: id(), Task: task, Input: d.Input, Output: d.Output, Source: step.Proposer,
				Feedback: provenance(d.Feedback), Created: at}
			demos = append(demos, d)
			demoIDs = append(demoIDs, d.ID)
		}
		noteIDs := slices.Clone(parent.Notes)
		for _, nt := range prop.AddNotes {
			if strings.TrimSpace(nt.Text) == "" {
				continue
			}
			nt := Note{ID: id(), Task: task, Text: nt.Text, Source: step.Proposer, Feedback: provenance(nt.Feedback),
				Pending: true, Created: at}
			notes = append(notes, nt)
			noteIDs = append(noteIDs, nt.ID)
		}
		system := parent.System
		if prop.System != nil {
			system = strings.TrimSpace(*prop.System)
		}
		for _, l := range lessons {
			if err := putJSON(txn, idKey(pfxLesson, task, l.ID), &l); err != nil {
				return err
			}
			if err := ix.add(txn, KindLesson, l.ID, l.Text); err != nil {
				return err
			}
			newLessons = append(newLessons, l.ID)
		}
		for _, d := range demos {
			if err := putJSON(txn, idKey(pfxDemo, task, d.ID), &d); err != nil {
				return err
			}
			if err := ix.add(txn, KindDemo, d.ID, demoText(&d)); err != nil {
				return err
			}
		}
		for _, nt := range notes {
			if err := putJSON(txn, idKey(pfxNote, task, nt.ID), &nt); err != nil {
				return err
			}
		}
		if err := countLessons(txn, task, prop.Helpful, 1, 0); err != nil {
			return err
		}
		if err := countLessons(txn, task, prop.Harmful, 0, 1); err != nil {
			return err
		}
		child = Candidate{ID: id(), Task: task, System: system, Lessons: lessonIDs, Demos: demoIDs, Notes: noteIDs,
			Parents: []uint64{parent.ID}, Generation: parent.Generation + 1, Proposer: step.Proposer,
			Run: o.state.ID, Created: at}
		return putCandidate(txn, &child)
	}, func() {
		o.state.Pending.Child = child.ID
		o.state.Pending.Phase = "child"
		o.state.Pending.New = newLessons
	})
	if err != nil {
		return fmt.Errorf("create child of %d: %w", step.Parent, err)
	}
	return nil
}

// countLessons adds to the counts of the lessons that exist.
func countLessons(txn *badger.Txn, task string, ids []uint64, helpful, harmful int64) error {
	for _, id := range ids {
		key := idKey(pfxLesson, task, id)
		var l Lesson
		if err := getJSON(txn, key, &l); errors.Is(err, ErrNotFound) {
			continue
		} else if err != nil {
			return err
		}
		l.Helpful += helpful
		l.Harmful += harmful
		if err := putJSON(txn, key, &l); err != nil {
			return err
		}
	}
	return nil
}

// finish records a finished (rejected or skipped) iteration.
func (o *Optimizer) finish(ctx context.Context, rec IterationRecord, fn func(txn *badger.Txn) error) error {
	rec.Finished = now()
	st := &o.state
	if st.Rollouts == st.Pending.Start {
		st.Stalled++
	} else {
		st.Stalled = 0
	}
	st.Pending = nil
	st.Iteration++
	err := o.checkpoint(ctx, func(txn *badger.Txn) error {
		if fn != nil {
			if err := fn(txn); err != nil {
				return err
			}
		}
		return putJSON(txn, runIterKey(st.Task, st.ID, rec.Iteration), &rec)
	})
	if err != nil {
		return err
	}
	o.emit(Event{Kind: "iteration", Iteration: rec.Iteration, Candidate: rec.Child, Rollouts: st.Rollouts})
	return nil
}

// accept adds a validated child to the pool and promotes it if it beats
// the current version on the validation set, all in one transaction.
func (o *Optimizer) accept(ctx context.Context, rec IterationRecord, val map[string]float64) error {
	st := &o.state
	step := *st.Pending
	ids := valIDs(o.data.Val)
	var promoted uint64
	var mean float64
	err := o.checkpointIndexed(ctx, func(txn *badger.Txn, ix *indexer) error {
		promoted = 0
		child, err := mergeScores(txn, st.Task, step.Child, val)
		if err != nil {
			return err
		}
		mean, _ = child.Mean(ids)
		if err := countLessons(txn, st.Task, step.New, 1, 0); err != nil {
			return err
		}
		curScore := -1.0
		if cur, err := currentVersion(txn, st.Task); err == nil {
			c, err := getCandidate(txn, st.Task, cur.Candidate)
			if err != nil {
				return err
			}
			m, ok := c.Mean(ids)
			if !ok {
				// Someone promoted a candidate this run never scored: the
				// gate cannot compare, so leave the served version alone.
				rec.Note = fmt.Sprintf("not promoted: current candidate %d has no scores on this run's validation set", c.ID)
				curScore = math.Inf(1)
			} else {
				curScore = m
			}
		} else if !errors.Is(err, ErrNoVersion) {
			return err
		}
		if mean > curScore+gateTolerance {
			v, err := promoteTxn(txn, ix, st.Task, step.Child, PromoteOptions{
				Source:    fmt.Sprintf("optimizer run %d iteration %d", st.ID, rec.Iteration),
				Reason:    fmt.Sprintf("validation mean %.4f beats %.4f", mean, curScore),
				Instances: ids}, now())
			if err != nil {
				return err
			}
			promoted = v.Seq
		}
		rec.Promoted = promoted
		rec.Finished = now()
		return putJSON(txn, runIterKey(st.Task, st.ID, rec.Iteration), &rec)
	}, func() {
		st.Pool = append(st.Pool, step.Child)
		st.Accepted++
		st.Stalled = 0
		st.Pending = nil
		st.Iteration++
		if promoted != 0 {
			st.Promoted = append(st.Promoted, promoted)
		}
	})
	if err != nil {
		return err
	}
	if err := o.updateBest(ctx); err != nil {
		return err
	}
	o.emit(Event{Kind: "accepted", Iteration: rec.Iteration, Candidate: step.Child, Rollouts: st.Rollouts, Score: mean})
	if promoted != 0 {
		if err := o.Store.sync(); err != nil {
			return err
		}
		o.emit(Event{Kind: "promoted", Iteration: rec.Iteration, Candidate: step.Child, Version: promoted,
			Rollouts: st.Rollouts, Score: mean})
	}
	return nil
}

// updateBest sets Best to the pool member with the highest validation mean.
func (o *Optimizer) updateBest(ctx context.Context) error {
	st := &o.state
	ids := valIDs(o.data.Val)
	best, bestScore := st.Best, -1.0
	err := o.Store.view(ctx, func(txn *badger.Txn) error {
		for _, id := range st.Pool {
			c, err := getCandidate(txn, st.Task, id)
			if err != nil {
				return err
			}
			if m, _ := c.Mean(ids); m > bestScore {
				best, bestScore = id, m
			}
		}
		return nil
	})
	if err != nil || best == st.Best {
		return err
	}
	st.Best = best
	return o.checkpoint(ctx, nil)
}

// String renders the proposal as JSON, for logs.
func (p Proposal) String() string {
	b, _ := json.Marshal(p)
	return string(b)
}
