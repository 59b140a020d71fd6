package prompts

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// gateTolerance absorbs float rounding when comparing mean scores.
const gateTolerance = 1e-9

// pointer is the value under p/<task>.
type pointer struct {
	Current uint64 `json:"current"`
	Last    uint64 `json:"last"`
}

func getPointer(txn *badger.Txn, task string) (pointer, error) {
	var p pointer
	err := getJSON(txn, pointerKey(task), &p)
	if errors.Is(err, ErrNotFound) {
		return pointer{}, nil
	}
	return p, err
}

func getVersion(txn *badger.Txn, task string, seq uint64) (Version, error) {
	var v Version
	if err := getJSON(txn, idKey(pfxVersion, task, seq), &v); err != nil {
		if errors.Is(err, ErrNotFound) {
			return v, fmt.Errorf("%w: version %d", ErrNotFound, seq)
		}
		return v, err
	}
	return v, nil
}

func getCandidate(txn *badger.Txn, task string, id uint64) (Candidate, error) {
	var c Candidate
	if err := getJSON(txn, idKey(pfxCandidate, task, id), &c); err != nil {
		if errors.Is(err, ErrNotFound) {
			return c, fmt.Errorf("%w: candidate %d", ErrNotFound, id)
		}
		return c, err
	}
	return c, nil
}

// Current returns the task's current version, or ErrNoVersion.
func (s *Store) Current(ctx context.Context, task string) (Version, error) {
	var v Version
	err := s.view(ctx, func(txn *badger.Txn) error {
		var err error
		v, err = currentVersion(txn, task)
		return err
	})
	if err != nil {
		return Version{}, fmt.Errorf("current version of %s: %w", task, err)
	}
	return v, nil
}

func currentVersion(txn *badger.Txn, task string) (Version, error) {
	if err := requireTask(txn, task); err != nil {
		return Version{}, err
	}
	p, err := getPointer(txn, task)
	if err != nil {
		return Version{}, err
	}
	if p.Current == 0 {
		return Version{}, ErrNoVersion
	}
	return getVersion(txn, task, p.Current)
}

// History returns every version of task, oldest first.
func (s *Store) History(ctx context.Context, task string) ([]Version, error) {
	return listRecords[Version](s, ctx, "version", pfxVersion, task)
}

// Version returns one version of task by its sequence number.
func (s *Store) Version(ctx context.Context, task string, seq uint64) (Version, error) {
	return getRecord[Version](s, ctx, "version", pfxVersion, task, seq)
}

// PromoteOptions qualify a promotion.
type PromoteOptions struct {
	// Source names who decided ("cli", "optimizer run 3", ...).
	Source string
	Reason string
	// Force skips the gate. The version records that it was forced.
	Force bool
	// Instances, if set, are the validation instances the gate compares
	// on (both candidates need scores on all of them); by default it uses
	// every instance the current version's candidate was scored on.
	Instances []string
}

// Promote makes candidate the task's served version, through the gate: the
// candidate must have validation scores on every instance the current
// version's candidate was scored on, and its mean there must not be lower.
// For a task's first version the candidate needs some validation scores.
// Force bypasses the gate (and says so in the evidence). Promoting the
// current candidate again returns the current version unchanged. Notes the
// candidate pins become searchable task-wide. The promotion is synced to
// disk before Promote returns.
func (s *Store) Promote(ctx context.Context, task string, candidate uint64, opts PromoteOptions) (Version, error) {
	var v Version
	err := s.writeChunked(ctx, task, 1, func(int) int { return 256 }, func(txn *badger.Txn, ix *indexer, _ int) error {
		var err error
		v, err = promoteTxn(txn, ix, task, candidate, opts, now())
		return err
	})
	if err != nil {
		return Version{}, fmt.Errorf("promote candidate %s/%d: %w", task, candidate, err)
	}
	if err := s.sync(); err != nil {
		return Version{}, err
	}
	return v, nil
}

// gate compares c with the current version's candidate and returns the
// evidence for promoting c, or why it may not be promoted.
func gate(txn *badger.Txn, task string, c Candidate, cur *Version, force bool, instances []string) (Evidence, error) {
	var ev Evidence
	ids := slices.Sorted(slices.Values(instances))
	if cur != nil {
		base, err := getCandidate(txn, task, cur.Candidate)
		if err != nil {
			return ev, fmt.Errorf("baseline: %w", err)
		}
		ev.BaselineCandidate = base.ID
		if len(ids) == 0 {
			ids = slices.Sorted(maps.Keys(base.Scores))
		}
		if len(ids) == 0 && !force {
			return ev, fmt.Errorf("%w: the current version's candidate %d has no validation scores", ErrNotEvaluated, base.ID)
		}
		var ok bool
		if ev.Baseline, ok = base.Mean(ids); !ok && !force {
			return ev, fmt.Errorf("%w: the current version's candidate %d lacks scores on some of the %d instances",
				ErrNotEvaluated, base.ID, len(ids))
		}
		ev.BaselinePer = subset(base.Scores, ids)
	} else if len(ids) == 0 {
		ids = slices.Sorted(maps.Keys(c.Scores))
		if len(ids) == 0 && !force {
			return ev, fmt.Errorf("%w: candidate %d has no validation scores", ErrNotEvaluated, c.ID)
		}
	}
	score, ok := c.Mean(ids)
	if !ok && !force {
		return ev, fmt.Errorf("%w: candidate %d lacks scores on some of the %d instances the current version was scored on",
			ErrNotEvaluated, c.ID, len(ids))
	}
	ev.Instances = len(ids)
	ev.Score = score
	ev.PerInstance = subset(c.Scores, ids)
	if cur != nil && score < ev.Baseline-gateTolerance && !force {
		return ev, fmt.Errorf("%w: candidate %d scores %.4f, current candidate %d scores %.4f on %d instances",
			ErrGateRejected, c.ID, score, ev.BaselineCandidate, ev.Baseline, len(ids))
	}
	ev.Forced = force
	return ev, nil
}

func subset(m map[string]float64, ids []string) map[string]float64 {
	out := make(map[string]float64, len(ids))
	for _, id := range ids {
		if v, ok := m[id]; ok {
			out[id] = v
		}
	}
	return out
}

func promoteTxn(txn *badger.Txn, ix *indexer, task string, candidate uint64, opts PromoteOptions, at time.Time) (Version, error) {
	c, err := getCandidate(txn, task, candidate)
	if err != nil {
		return Version{}, err
	}
	p, err := getPointer(txn, task)
	if err != nil {
		return Version{}, err
	}
	var cur *Version
	if p.Current != 0 {
		v, err := getVersion(txn, task, p.Current)
		if err != nil {
			return Version{}, err
		}
		if v.Candidate == candidate {
			return v, nil
		}
		cur = &v
	}
	ev, err := gate(txn, task, c, cur, opts.Force, opts.Instances)
	if err != nil {
		return Version{}, err
	}
	ev.Source, ev.Reason = opts.Source, opts.Reason
	if err := activateNotes(txn, ix, task, c.Notes); err != nil {
		return Version{}, err
	}
	v := Version{Seq: p.Last + 1, Task: task, Candidate: candidate, Action: ActionPromote,
		Previous: p.Current, Evidence: ev, Created: at}
	return v, writeVersion(txn, v)
}

func writeVersion(txn *badger.Txn, v Version) error {
	if err := putJSON(txn, idKey(pfxVersion, v.Task, v.Seq), &v); err != nil {
		return err
	}
	return putJSON(txn, pointerKey(v.Task), pointer{Current: v.Seq, Last: v.Seq})
}

// activateNotes makes pending notes searchable.
func activateNotes(txn *badger.Txn, ix *indexer, task string, ids []uint64) error {
	for _, id := range ids {
		key := idKey(pfxNote, task, id)
		var n Note
		if err := getJSON(txn, key, &n); err != nil {
			return fmt.Errorf("pinned note %d: %w", id, err)
		}
		if !n.Pending {
			continue
		}
		n.Pending = false
		if err := putJSON(txn, key, &n); err != nil {
			return err
		}
		if err := ix.add(txn, KindNote, id, n.Text); err != nil {
			return err
		}
	}
	return nil
}

// Rollback makes an earlier version's candidate current again, recording a
// new history entry (the history is never rewritten). With to = 0 it goes
// back one step: to the version that was current before the one now in
// effect, so repeated rollbacks walk back through the history. Rollbacks
// are not gated: they restore something that was gated before.
func (s *Store) Rollback(ctx context.Context, task string, to uint64, reason string) (Version, error) {
	var v Version
	err := s.writeChunked(ctx, task, 1, func(int) int { return 256 }, func(txn *badger.Txn, ix *indexer, _ int) error {
		cur, err := currentVersion(txn, task)
		if err != nil {
			return err
		}
		if to == 0 {
			eff := cur
			if cur.Action == ActionRollback {
				if eff, err = getVersion(txn, task, cur.Restores); err != nil {
					return err
				}
			}
			if eff.Previous == 0 {
				return fmt.Errorf("%w: version %d is the first, there is no earlier version to roll back to", ErrNotFound, eff.Seq)
			}
			to = eff.Previous
		}
		target, err := getVersion(txn, task, to)
		if err != nil {
			return err
		}
		restores := target.Seq
		if target.Action == ActionRollback {
			restores = target.Restores
		}
		c, err := getCandidate(txn, task, target.Candidate)
		if err != nil {
			return err
		}
		if err := activateNotes(txn, ix, task, c.Notes); err != nil {
			return err
		}
		p, err := getPointer(txn, task)
		if err != nil {
			return err
		}
		v = Version{Seq: p.Last + 1, Task: task, Candidate: target.Candidate, Action: ActionRollback,
			Previous: cur.Seq, Restores: restores, Created: now(),
			Evidence: Evidence{Source: "rollback", Reason: reason, Score: target.Evidence.Score,
				Instances: target.Evidence.Instances, PerInstance: target.Evidence.PerInstance}}
		return writeVersion(txn, v)
	})
	if err != nil {
		return Version{}, fmt.Errorf("rollback %s: %w", task, err)
	}
	if err := s.sync(); err != nil {
		return Version{}, err
	}
	return v, nil
}
