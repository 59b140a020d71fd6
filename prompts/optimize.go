package prompts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	badger "github.com/dgraph-io/badger/v4"
)

// Start creates a run and runs it until its budget is spent or ctx ends.
// The returned state is the last one stored.
func (o *Optimizer) Start(ctx context.Context, cfg RunConfig) (RunState, error) {
	if len(o.Proposers) == 0 || o.Runner == nil || o.Store == nil {
		return RunState{}, fmt.Errorf("optimizer: %w: needs a store, a runner and at least one proposer", ErrInvalid)
	}
	if len(cfg.Val) == 0 || cfg.Budget <= 0 {
		return RunState{}, fmt.Errorf("optimizer: %w: needs validation instances and a positive budget", ErrInvalid)
	}
	if err := uniqueIDs(cfg.Val); err != nil {
		return RunState{}, fmt.Errorf("optimizer: validation set: %w", err)
	}
	if err := uniqueIDs(cfg.Train); err != nil {
		return RunState{}, fmt.Errorf("optimizer: train set: %w", err)
	}
	s := o.Store
	base := uint64(0)
	if cur, err := s.Current(ctx, cfg.Task); err == nil {
		base = cur.Candidate
	} else if !errors.Is(err, ErrNoVersion) {
		return RunState{}, fmt.Errorf("optimizer: %w", err)
	}
	seed := base
	if cfg.SeedSystem != "" || base == 0 {
		c, err := s.AddCandidate(ctx, Candidate{Task: cfg.Task, System: cfg.SeedSystem, Proposer: "seed"})
		if err != nil {
			return RunState{}, fmt.Errorf("optimizer: seed candidate: %w", err)
		}
		seed = c.ID
	}
	id, err := s.newIDs(1)
	if err != nil {
		return RunState{}, fmt.Errorf("optimizer: %w", err)
	}
	at := now()
	st := RunState{ID: id, Task: cfg.Task, Seed: cfg.Seed, Budget: cfg.Budget, Minibatch: cfg.Minibatch,
		Base: base, Status: StatusRunning, Created: at, Updated: at,
		Limits: Limits{Notes: cfg.Render.Notes, Demos: cfg.Render.Demos, Lessons: cfg.Render.Lessons,
			MaxChars: cfg.Render.Budget.MaxChars, MaxTokens: cfg.Render.Budget.MaxTokens},
		Pending: &Step{Phase: "seed", Parent: seed}}
	if st.Minibatch <= 0 {
		st.Minibatch = 3
	}
	data := runData{Train: cfg.Train, Val: cfg.Val}
	err = s.update(ctx, func(txn *badger.Txn) error {
		if err := requireTask(txn, cfg.Task); err != nil {
			return err
		}
		if err := putJSON(txn, idKey(pfxRunData, cfg.Task, id), &data); err != nil {
			return err
		}
		return putJSON(txn, idKey(pfxRun, cfg.Task, id), &st)
	})
	if err != nil {
		return RunState{}, fmt.Errorf("optimizer: create run: %w", err)
	}
	if o.Render.Embedder == nil && o.Render.Budget.Tokens == nil {
		o.Render.Embedder, o.Render.EmbedderID, o.Render.Budget.Tokens = cfg.Render.Embedder, cfg.Render.EmbedderID, cfg.Render.Budget.Tokens
	}
	o.state, o.data = st, data
	return o.loop(ctx)
}

// Resume continues a stored run until its budget is spent or ctx ends.
func (o *Optimizer) Resume(ctx context.Context, task string, run uint64) (RunState, error) {
	if len(o.Proposers) == 0 || o.Runner == nil || o.Store == nil {
		return RunState{}, fmt.Errorf("optimizer: %w: needs a store, a runner and at least one proposer", ErrInvalid)
	}
	err := o.Store.view(ctx, func(txn *badger.Txn) error {
		if err := requireTask(txn, task); err != nil {
			return err
		}
		if err := getJSON(txn, idKey(pfxRun, task, run), &o.state); err != nil {
			return fmt.Errorf("run %d: %w", run, err)
		}
		return getJSON(txn, idKey(pfxRunData, task, run), &o.data)
	})
	if err != nil {
		return RunState{}, fmt.Errorf("optimizer: resume %s/%d: %w", task, run, err)
	}
	return o.loop(ctx)
}

// Run returns a stored run.
func (s *Store) Run(ctx context.Context, task string, id uint64) (RunState, error) {
	return getRecord[RunState](s, ctx, "run", pfxRun, task, id)
}

// Runs lists a task's runs, oldest first.
func (s *Store) Runs(ctx context.Context, task string) ([]RunState, error) {
	return listRecords[RunState](s, ctx, "run", pfxRun, task)
}

// Iterations returns a run's iteration records, in order.
func (s *Store) Iterations(ctx context.Context, task string, run uint64) ([]IterationRecord, error) {
	var out []IterationRecord
	err := s.view(ctx, func(txn *badger.Txn) error {
		if err := requireTask(txn, task); err != nil {
			return err
		}
		prefix := append(idKey(pfxRunIter, task, run), '/')
		return scanJSON(txn, prefix, func(r *IterationRecord) error { out = append(out, *r); return nil })
	})
	if err != nil {
		return nil, fmt.Errorf("iterations of run %s/%d: %w", task, run, err)
	}
	return out, nil
}

func uniqueIDs(insts []Instance) error {
	seen := map[string]bool{}
	for i, in := range insts {
		if in.ID == "" || seen[in.ID] {
			return fmt.Errorf("%w: instance %d has an empty or duplicate id %q", ErrInvalid, i, in.ID)
		}
		seen[in.ID] = true
	}
	return nil
}

func (o *Optimizer) emit(e Event) {
	if o.OnEvent != nil {
		e.Run = o.state.ID
		o.OnEvent(e)
	}
}

// checkpoint stores the run state (and whatever else fn writes) atomically.
func (o *Optimizer) checkpoint(ctx context.Context, fn func(txn *badger.Txn) error) error {
	o.state.Updated = now()
	st := o.state
	return o.Store.update(ctx, func(txn *badger.Txn) error {
		if fn != nil {
			if err := fn(txn); err != nil {
				return err
			}
		}
		return putJSON(txn, idKey(pfxRun, st.Task, st.ID), &st)
	})
}

func (o *Optimizer) renderOptions() RenderOptions {
	l := o.state.Limits
	r := o.Render
	r.Notes, r.Demos, r.Lessons = l.Notes, l.Demos, l.Lessons
	r.Budget.MaxChars, r.Budget.MaxTokens = l.MaxChars, l.MaxTokens
	return r
}

func (o *Optimizer) loop(ctx context.Context) (RunState, error) {
	for o.state.Status == StatusRunning {
		if err := ctx.Err(); err != nil {
			return o.state, err
		}
		var err error
		switch {
		case o.state.Pending != nil && o.state.Pending.Phase == "seed":
			err = o.seed(ctx)
		case o.state.Pending == nil && (o.state.Rollouts >= o.state.Budget || o.state.Stalled >= maxStalled):
			o.state.Status = StatusDone
			err = o.checkpoint(ctx, nil)
			if err == nil {
				o.emit(Event{Kind: "done", Iteration: o.state.Iteration, Candidate: o.state.Best, Rollouts: o.state.Rollouts})
			}
		default:
			err = o.iterate(ctx)
		}
		if err != nil {
			return o.state, fmt.Errorf("optimizer run %s/%d: %w", o.state.Task, o.state.ID, err)
		}
	}
	return o.state, nil
}

// seed scores the seed candidate (and the current version's, if different)
// on the validation set and makes the seed the pool's first member.
func (o *Optimizer) seed(ctx context.Context) error {
	seed := o.state.Pending.Parent
	evaluate := []uint64{seed}
	if o.state.Base != 0 && o.state.Base != seed {
		evaluate = append(evaluate, o.state.Base)
	}
	scores := map[uint64]map[string]float64{}
	for _, c := range evaluate {
		trials, err := o.rollouts(ctx, c, o.data.Val)
		if err != nil {
			return err
		}
		scores[c] = scoreMap(trials)
	}
	o.state.Pool = []uint64{seed}
	o.state.Best = seed
	o.state.Pending = nil
	var promoted uint64
	err := o.checkpointIndexed(ctx, func(txn *badger.Txn, ix *indexer) error {
		for c, sc := range scores {
			if _, err := mergeScores(txn, o.state.Task, c, sc); err != nil {
				return err
			}
		}
		if o.state.Base != 0 {
			return nil
		}
		// A task with no version serves its seed: promote it as the baseline.
		v, err := promoteTxn(txn, ix, o.state.Task, seed, PromoteOptions{
			Source: fmt.Sprintf("optimizer run %d seed", o.state.ID), Instances: valIDs(o.data.Val)}, now())
		if err != nil {
			return err
		}
		promoted = v.Seq
		return nil
	}, func() {
		if promoted != 0 {
			o.state.Promoted = append(o.state.Promoted, promoted)
		}
	})
	if err != nil {
		return err
	}
	if promoted != 0 {
		if err := o.Store.sync(); err != nil {
			return err
		}
		o.emit(Event{Kind: "promoted", Candidate: seed, Version: promoted, Rollouts: o.state.Rollouts})
	}
	return nil
}

// checkpointIndexed is checkpoint for writes that touch the task's index;
// mutate runs inside the transaction's retry loop before the state is
// written, so it must only change the state.
func (o *Optimizer) checkpointIndexed(ctx context.Context, fn func(txn *badger.Txn, ix *indexer) error, mutate func()) error {
	saved := cloneState(o.state)
	err := o.Store.writeChunked(ctx, o.state.Task, 1, func(int) int { return 256 }, func(txn *badger.Txn, ix *indexer, _ int) error {
		o.state = cloneState(saved)
		if err := fn(txn, ix); err != nil {
			return err
		}
		if mutate != nil {
			mutate()
		}
		o.state.Updated = now()
		return putJSON(txn, idKey(pfxRun, o.state.Task, o.state.ID), &o.state)
	})
	if err != nil {
		o.state = saved
	}
	return err
}

// cloneState copies a run state deeply enough that changing the copy's
// pending step or slices leaves the original alone.
func cloneState(st RunState) RunState {
	st.Pool = slices.Clone(st.Pool)
	st.Promoted = slices.Clone(st.Promoted)
	if st.Pending != nil {
		p := *st.Pending
		p.Batch, p.Feedback, p.New = slices.Clone(p.Batch), slices.Clone(p.Feedback), slices.Clone(p.New)
		st.Pending = &p
	}
	return st
}

func valIDs(val []Instance) []string {
	ids := make([]string, len(val))
	for i, in := range val {
		ids[i] = in.ID
	}
	return ids
}

func scoreMap(trials []Trial) map[string]float64 {
	m := make(map[string]float64, len(trials))
	for _, t := range trials {
		m[t.Instance.ID] = t.Outcome.Score
	}
	return m
}

func sumScores(trials []Trial) float64 {
	var s float64
	for _, t := range trials {
		s += t.Outcome.Score
	}
	return s
}

// rollouts runs candidate on insts, reusing stored outcomes: every new
// outcome is stored together with the rollout counter before the next one
// starts, so no saved rollout is ever run twice.
func (o *Optimizer) rollouts(ctx context.Context, cand uint64, insts []Instance) ([]Trial, error) {
	trials := make([]Trial, len(insts))
	todo := make([]int, 0, len(insts))
	err := o.Store.view(ctx, func(txn *badger.Txn) error {
		for i, in := range insts {
			trials[i].Instance = in
			err := getJSON(txn, rolloutKey(o.state.Task, o.state.ID, cand, in.ID), &trials[i].Outcome)
			switch {
			case errors.Is(err, ErrNotFound):
				todo = append(todo, i)
			case err != nil:
				return err
			}
		}
		return nil
	})
	if err != nil || len(todo) == 0 {
		return trials, err
	}
	workers := max(o.Workers, 1)
	sem := make(chan struct{}, workers)
	errs := make([]error, len(insts))
	var wg sync.WaitGroup
	ropts := o.renderOptions()
	for _, i := range todo {
		if err := ctx.Err(); err != nil {
			errs[i] = err
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = o.rollout(ctx, cand, &trials[i], ropts)
		}()
		if workers == 1 {
			wg.Wait() // one at a time: keep the order of runner calls reproducible
		}
	}
	wg.Wait()
	return trials, errors.Join(errs...)
}

func (o *Optimizer) rollout(ctx context.Context, cand uint64, t *Trial, ropts RenderOptions) error {
	p, err := o.Store.renderCandidate(ctx, o.state.Task, cand, t.Instance.Input, ropts)
	if err != nil {
		return err
	}
	out, err := o.Runner.Run(ctx, p, t.Instance)
	if err != nil {
		return fmt.Errorf("run candidate %d on %q: %w", cand, t.Instance.ID, err)
	}
	out.Score = min(max(out.Score, 0), 1)
	t.Outcome = out
	o.mu.Lock()
	defer o.mu.Unlock()
	o.state.Rollouts++
	err = o.checkpoint(ctx, func(txn *badger.Txn) error {
		return putJSON(txn, rolloutKey(o.state.Task, o.state.ID, cand, t.Instance.ID), &out)
	})
	if err != nil {
		o.state.Rollouts--
		return err
	}
	o.emit(Event{Kind: "rollout", Iteration: o.state.Iteration, Candidate: cand, Rollouts: o.state.Rollouts})
	return nil
}
