package prompts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Runner runs a rendered prompt on one instance and scores the answer. The
// core implements it over Ollama; tests use deterministic runners.
type Runner interface {
	Run(ctx context.Context, prompt Rendered, inst Instance) (Outcome, error)
}

// Outcome is the result of one rollout.
type Outcome struct {
	Output string `json:"output"`
	// Score is in [0, 1]; 1 is a perfect answer.
	Score float64 `json:"score"`
	// Feedback says what was wrong (a verifier's message, an expected
	// answer), for proposers to learn from.
	Feedback string `json:"feedback,omitempty"`
}

// Trial is an instance with its outcome under a candidate.
type Trial struct {
	Instance Instance `json:"instance"`
	Outcome  Outcome  `json:"outcome"`
	// Feedback is the id of the feedback record stored for this trial.
	Feedback uint64 `json:"feedback,omitempty"`
}

// Proposer proposes a child of a candidate from its trials on a minibatch.
type Proposer interface {
	// Name identifies the proposer in candidates and run records.
	Name() string
	// Propose returns a delta to the parent. An empty proposal means the
	// proposer has nothing to suggest.
	Propose(ctx context.Context, in ProposeInput) (Proposal, error)
}

// ProposeInput is what a proposer sees.
type ProposeInput struct {
	Task    string
	Parent  Candidate
	Lessons []Lesson // the parent's lessons, in order
	Demos   []Demo   // the parent's demos
	Notes   []Note   // the parent's pinned notes
	Trials  []Trial  // the minibatch under the parent
	// Store gives proposers read access, e.g. to search the task's demos.
	Store *Store
}

// Proposal is a change to a parent candidate: ACE-style deltas to its
// lessons, demos and notes, and optionally new system text.
type Proposal struct {
	// System replaces the system text when not nil.
	System *string `json:"system,omitempty"`
	// AddLessons are new bullets; Text is required. Lessons without
	// Feedback get the minibatch's failing trials as provenance.
	AddLessons []Lesson `json:"add_lessons,omitempty"`
	// EditLessons replace bullets of the parent by edited copies.
	EditLessons []LessonEdit `json:"edit_lessons,omitempty"`
	DropLessons []uint64     `json:"drop_lessons,omitempty"`
	// AddDemos are new demos, or existing demos of the task when ID is set.
	AddDemos  []Demo   `json:"add_demos,omitempty"`
	DropDemos []uint64 `json:"drop_demos,omitempty"`
	// AddNotes are new notes, pinned to the child and pending until a
	// candidate carrying them is promoted.
	AddNotes []Note `json:"add_notes,omitempty"`
	// Helpful and Harmful tag parent lessons the proposer judged.
	Helpful []uint64 `json:"helpful,omitempty"`
	Harmful []uint64 `json:"harmful,omitempty"`
	Reason  string   `json:"reason,omitempty"`
}

// LessonEdit rewrites one lesson.
type LessonEdit struct {
	ID   uint64 `json:"id"`
	Text string `json:"text"`
}

// Empty reports whether the proposal changes nothing.
func (p Proposal) Empty() bool {
	return p.System == nil && len(p.AddLessons) == 0 && len(p.EditLessons) == 0 && len(p.DropLessons) == 0 &&
		len(p.AddDemos) == 0 && len(p.DropDemos) == 0 && len(p.AddNotes) == 0
}

// RunConfig starts an optimizer run.
type RunConfig struct {
	Task string
	// Train feeds minibatches; Val decides acceptance into the pool, the
	// Pareto front and promotion. Train may be empty (Val is used).
	Train, Val []Instance
	// Budget is the number of rollouts (runner calls) the run may spend.
	// The run stops at the first iteration boundary at or past it.
	Budget int
	// Minibatch is the number of train instances per iteration (default 3).
	Minibatch int
	// Seed makes parent and minibatch choices reproducible.
	Seed uint64
	// SeedSystem starts from a new candidate with this system text; empty
	// starts from the task's current version.
	SeedSystem string
	// Render limits prompts; only its serializable fields are stored with
	// the run (resumed runs take Embedder and Tokens from Optimizer.Render).
	Render RenderOptions
}

// RunState is an optimizer run as stored; it is checkpointed after every
// rollout and every step of an iteration.
type RunState struct {
	ID        uint64 `json:"id"`
	Task      string `json:"task"`
	Seed      uint64 `json:"seed"`
	Budget    int    `json:"budget"`
	Minibatch int    `json:"minibatch"`
	Rollouts  int    `json:"rollouts"`
	Iteration int    `json:"iteration"`
	// Pool holds the candidates scored on every validation instance.
	Pool []uint64 `json:"pool"`
	// Base is the candidate that was current when the run started.
	Base     uint64   `json:"base,omitempty"`
	Best     uint64   `json:"best,omitempty"`
	Promoted []uint64 `json:"promoted,omitempty"` // version seqs
	Accepted int      `json:"accepted"`
	Pending  *Step    `json:"pending,omitempty"`
	// Stalled counts consecutive iterations that ran no rollout (every
	// outcome already known and nothing new proposed); a run whose parents
	// are perfect or whose proposers are exhausted stops at maxStalled.
	Stalled int       `json:"stalled,omitempty"`
	Status  string    `json:"status"` // "running" or "done"
	Limits  Limits    `json:"limits"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// Limits are the stored part of RenderOptions.
type Limits struct {
	Notes     int `json:"notes,omitempty"`
	Demos     int `json:"demos,omitempty"`
	Lessons   int `json:"lessons,omitempty"`
	MaxChars  int `json:"max_chars,omitempty"`
	MaxTokens int `json:"max_tokens,omitempty"`
}

// Step is the iteration in progress.
type Step struct {
	Iteration int      `json:"iteration"`
	Phase     string   `json:"phase"` // "seed", "parent", "child", "validate"
	Parent    uint64   `json:"parent,omitempty"`
	Batch     []string `json:"batch,omitempty"`
	Proposer  string   `json:"proposer,omitempty"`
	Feedback  []uint64 `json:"feedback,omitempty"`
	Child     uint64   `json:"child,omitempty"`
	New       []uint64 `json:"new_lessons,omitempty"` // lessons the child added or edited
	Start     int      `json:"start"`                 // rollouts spent before this iteration
}

// IterationRecord is the log entry of one finished iteration.
type IterationRecord struct {
	Iteration    int                `json:"iteration"`
	Parent       uint64             `json:"parent"`
	Proposer     string             `json:"proposer,omitempty"`
	Batch        []string           `json:"batch"`
	ParentScores map[string]float64 `json:"parent_scores,omitempty"`
	Child        uint64             `json:"child,omitempty"`
	ChildScores  map[string]float64 `json:"child_scores,omitempty"`
	Accepted     bool               `json:"accepted"`
	ValMean      float64            `json:"val_mean,omitempty"`
	Promoted     uint64             `json:"promoted,omitempty"`
	Note         string             `json:"note,omitempty"`
	Finished     time.Time          `json:"finished"`
}

// maxStalled is how many iterations in a row may pass without a rollout
// before a run stops early.
const maxStalled = 25

// Run statuses.
const (
	StatusRunning = "running"
	StatusDone    = "done"
)

// runData holds a run's instances.
type runData struct {
	Train []Instance `json:"train"`
	Val   []Instance `json:"val"`
}

// Event reports optimizer progress.
type Event struct {
	Kind      string  // "rollout", "iteration", "accepted", "promoted", "done"
	Run       uint64  // run id
	Iteration int     // iteration number
	Candidate uint64  // the candidate concerned
	Version   uint64  // for "promoted": the version seq
	Rollouts  int     // rollouts spent so far
	Score     float64 // for "accepted"/"promoted": validation mean
}

// Optimizer searches prompt candidates GEPA-style: it samples a minibatch,
// runs the parent, asks a proposer for a child, keeps the child if it beats
// the parent on the minibatch, scores it on the validation set, keeps a
// Pareto front over validation instances and draws the next parent from
// it. A child that beats the current version's validation mean is promoted
// through the gate. Everything is checkpointed in the store: a run killed
// at any point resumes where it stopped without repeating a rollout whose
// result was saved.
type Optimizer struct {
	Store     *Store
	Runner    Runner
	Proposers []Proposer
	// Render supplies the non-serializable render options (Embedder,
	// Tokens) for resumed runs.
	Render RenderOptions
	// Workers runs up to this many rollouts of one candidate at once
	// (default 1).
	Workers int
	// OnEvent, if set, is called after each checkpoint.
	OnEvent func(Event)

	mu    sync.Mutex // guards state during parallel rollouts
	state RunState
	data  runData
}

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

// iterate runs (or finishes) one iteration.
func (o *Optimizer) iterate(ctx context.Context) error {
	st := &o.state
	if st.Pending == nil {
		parent, batch, err := o.choose(ctx)
		if err != nil {
			return err
		}
		st.Pending = &Step{Iteration: st.Iteration, Phase: "parent", Parent: parent, Batch: batch,
			Proposer: o.Proposers[st.Iteration%len(o.Proposers)].Name(), Start: st.Rollouts}
		if err := o.checkpoint(ctx, nil); err != nil {
			return err
		}
	}
	step := st.Pending
	batch := o.instances(step.Batch)
	parentTrials, err := o.rollouts(ctx, step.Parent, batch)
	if err != nil {
		return err
	}
	rec := IterationRecord{Iteration: step.Iteration, Parent: step.Parent, Proposer: step.Proposer, Batch: step.Batch,
		ParentScores: scoreMap(parentTrials)}
	if step.Child == 0 {
		perfect := true
		for _, t := range parentTrials {
			perfect = perfect && t.Outcome.Score >= 1
		}
		if perfect {
			rec.Note = "parent is perfect on the minibatch"
			return o.finish(ctx, rec, nil)
		}
		if err := o.recordFeedback(ctx, step, parentTrials); err != nil {
			return err
		}
		for i := range parentTrials {
			parentTrials[i].Feedback = step.Feedback[i]
		}
		prop, err := o.propose(ctx, step, parentTrials)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rec.Note = "proposal failed: " + err.Error()
			return o.finish(ctx, rec, nil)
		}
		if prop.Empty() {
			rec.Note = "no proposal: " + prop.Reason
			return o.finish(ctx, rec, nil)
		}
		if err := o.createChild(ctx, step, prop, parentTrials); err != nil {
			return err
		}
		step = st.Pending
	}
	rec.Child = step.Child
	childTrials, err := o.rollouts(ctx, step.Child, batch)
	if err != nil {
		return err
	}
	rec.ChildScores = scoreMap(childTrials)
	if sumScores(childTrials) <= sumScores(parentTrials) {
		rec.Note = "child does not beat its parent on the minibatch"
		return o.finish(ctx, rec, func(txn *badger.Txn) error { return countLessons(txn, st.Task, step.New, 0, 1) })
	}
	if step.Phase != "validate" {
		step.Phase = "validate"
		if err := o.checkpoint(ctx, nil); err != nil {
			return err
		}
	}
	valTrials, err := o.rollouts(ctx, step.Child, o.data.Val)
	if err != nil {
		return err
	}
	rec.Accepted = true
	val := scoreMap(valTrials)
	rec.ValMean = sumScores(valTrials) / float64(len(valTrials))
	return o.accept(ctx, rec, val)
}

// choose draws a parent from the Pareto front and a minibatch.
func (o *Optimizer) choose(ctx context.Context) (uint64, []string, error) {
	st := &o.state
	rng := rand.New(rand.NewPCG(st.Seed, uint64(st.Iteration)+1))
	pool := make([]Candidate, 0, len(st.Pool))
	err := o.Store.view(ctx, func(txn *badger.Txn) error {
		for _, id := range st.Pool {
			c, err := getCandidate(txn, st.Task, id)
			if err != nil {
				return err
			}
			pool = append(pool, c)
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	parent := paretoParent(pool, valIDs(o.data.Val), rng)
	train := o.data.Train
	if len(train) == 0 {
		train = o.data.Val
	}
	n := min(st.Minibatch, len(train))
	batch := make([]string, n)
	for i, j := range rng.Perm(len(train))[:n] {
		batch[i] = train[j].ID
	}
	return parent, batch, nil
}

// paretoParent samples a candidate from the Pareto front over validation
// instances, as GEPA does: candidates best on some instance, minus those
// dominated by others on the front, weighted by the number of instances
// they are best on.
func paretoParent(pool []Candidate, val []string, rng *rand.Rand) uint64 {
	if len(pool) == 1 {
		return pool[0].ID
	}
	fronts := make([]map[uint64]bool, 0, len(val))
	for _, inst := range val {
		best := -1.0
		for _, c := range pool {
			best = max(best, c.Scores[inst])
		}
		f := map[uint64]bool{}
		for _, c := range pool {
			if c.Scores[inst] == best {
				f[c.ID] = true
			}
		}
		fronts = append(fronts, f)
	}
	on := map[uint64]bool{}
	for _, f := range fronts {
		for id := range f {
			on[id] = true
		}
	}
	// Remove dominated candidates, weakest (by mean) first: a candidate is
	// dominated if every front it is on also holds another survivor.
	mean := map[uint64]float64{}
	for _, c := range pool {
		m, _ := c.Mean(val)
		mean[c.ID] = m
	}
	order := slices.Sorted(maps.Keys(on))
	slices.SortStableFunc(order, func(a, b uint64) int {
		if mean[a] != mean[b] {
			if mean[a] < mean[b] {
				return -1
			}
			return 1
		}
		return 0
	})
	alive := maps.Clone(on)
	for _, id := range order {
		dominated := true
		for _, f := range fronts {
			if !f[id] {
				continue
			}
			other := false
			for o := range f {
				if o != id && alive[o] {
					other = true
					break
				}
			}
			if !other {
				dominated = false
				break
			}
		}
		if dominated {
			delete(alive, id)
		}
	}
	var weighted []uint64
	for _, f := range fronts {
		for _, id := range slices.Sorted(maps.Keys(f)) {
			if alive[id] {
				weighted = append(weighted, id)
			}
		}
	}
	slices.Sort(weighted)
	if len(weighted) == 0 {
		return pool[0].ID
	}
	return weighted[rng.IntN(len(weighted))]
}

func (o *Optimizer) instances(ids []string) []Instance {
	byID := map[string]Instance{}
	for _, in := range o.data.Train {
		byID[in.ID] = in
	}
	for _, in := range o.data.Val {
		if _, ok := byID[in.ID]; !ok && len(o.data.Train) == 0 {
			byID[in.ID] = in
		}
	}
	out := make([]Instance, 0, len(ids))
	for _, id := range ids {
		out = append(out, byID[id])
	}
	return out
}

// recordFeedback stores the parent's minibatch trials as feedback records,
// once per iteration, as provenance for what the proposer writes.
func (o *Optimizer) recordFeedback(ctx context.Context, step *Step, trials []Trial) error {
	if len(step.Feedback) == len(trials) {
		return nil
	}
	first, err := o.Store.newIDs(len(trials))
	if err != nil {
		return err
	}
	at := now()
	fbs := make([]Feedback, len(trials))
	ids := make([]uint64, len(trials))
	for i, t := range trials {
		ids[i] = first + uint64(i)
		fbs[i] = Feedback{ID: ids[i], Task: o.state.Task, Instance: t.Instance.ID, Input: t.Instance.Input,
			Output: t.Outcome.Output, Answer: t.Instance.Answer, Score: t.Outcome.Score, Text: t.Outcome.Feedback,
			Candidate: step.Parent, Run: o.state.ID, Created: at}
	}
	step.Feedback = ids
	err = o.checkpoint(ctx, func(txn *badger.Txn) error {
		for i := range fbs {
			if err := putJSON(txn, idKey(pfxFeedback, o.state.Task, fbs[i].ID), &fbs[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		step.Feedback = nil
	}
	return err
}

func (o *Optimizer) propose(ctx context.Context, step *Step, trials []Trial) (Proposal, error) {
	var in ProposeInput
	err := o.Store.view(ctx, func(txn *badger.Txn) error {
		c, err := getCandidate(txn, o.state.Task, step.Parent)
		if err != nil {
			return err
		}
		in = ProposeInput{Task: o.state.Task, Parent: c, Trials: trials, Store: o.Store}
		if in.Lessons, err = loadAll[Lesson](txn, pfxLesson, o.state.Task, c.Lessons); err != nil {
			return err
		}
		if in.Demos, err = loadAll[Demo](txn, pfxDemo, o.state.Task, c.Demos); err != nil {
			return err
		}
		in.Notes, err = loadAll[Note](txn, pfxNote, o.state.Task, c.Notes)
		return err
	})
	if err != nil {
		return Proposal{}, err
	}
	var p Proposer
	for _, q := range o.Proposers {
		if q.Name() == step.Proposer {
			p = q
			break
		}
	}
	if p == nil {
		p = o.Proposers[step.Iteration%len(o.Proposers)]
		step.Proposer = p.Name()
	}
	return p.Propose(ctx, in)
}

// createChild stores the proposal's new records and the child candidate,
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
