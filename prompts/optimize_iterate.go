package prompts

import (
	"context"
	"maps"
	"math/rand/v2"
	"slices"

	badger "github.com/dgraph-io/badger/v4"
)

// One optimizer iteration: choosing a parent, rollouts on a minibatch, feedback and proposals.

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
