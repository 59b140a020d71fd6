package prompts

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Gate promotes candidates and lessons outside an optimizer run: it scores
// what lacks scores on the validation instances (through the Runner) and
// promotes only what does not lower the validation score, with the
// comparison recorded as the version's evidence.
type Gate struct {
	Store  *Store
	Runner Runner
	Render RenderOptions
}

// Evaluate scores candidate on the instances of val it has no score for,
// stores the scores and returns the candidate.
func (g *Gate) Evaluate(ctx context.Context, task string, candidate uint64, val []Instance) (Candidate, error) {
	if err := uniqueIDs(val); err != nil {
		return Candidate{}, fmt.Errorf("evaluate: %w", err)
	}
	c, err := g.Store.Candidate(ctx, task, candidate)
	if err != nil {
		return Candidate{}, fmt.Errorf("evaluate: %w", err)
	}
	scores := map[string]float64{}
	for _, in := range val {
		if _, ok := c.Scores[in.ID]; ok {
			continue
		}
		p, err := g.Store.RenderCandidate(ctx, task, candidate, in.Input, g.Render)
		if err != nil {
			return Candidate{}, fmt.Errorf("evaluate: %w", err)
		}
		out, err := g.Runner.Run(ctx, p, in)
		if err != nil {
			return Candidate{}, fmt.Errorf("evaluate candidate %d on %q: %w", candidate, in.ID, err)
		}
		scores[in.ID] = min(max(out.Score, 0), 1)
	}
	if len(scores) == 0 {
		return c, nil
	}
	return g.Store.SetScores(ctx, task, candidate, scores)
}

// PromoteCandidate evaluates candidate and the current version's candidate
// on val and promotes candidate if its mean is not lower there (the first
// version of a task only needs to be evaluated). It returns ErrGateRejected,
// and leaves the served version alone, if it would lower the score.
func (g *Gate) PromoteCandidate(ctx context.Context, task string, candidate uint64, val []Instance, opts PromoteOptions) (Version, error) {
	if len(val) == 0 {
		return Version{}, fmt.Errorf("gate: %w: no validation instances", ErrInvalid)
	}
	if cur, err := g.Store.Current(ctx, task); err == nil {
		if _, err := g.Evaluate(ctx, task, cur.Candidate, val); err != nil {
			return Version{}, fmt.Errorf("gate: current version: %w", err)
		}
	} else if !errors.Is(err, ErrNoVersion) {
		return Version{}, fmt.Errorf("gate: %w", err)
	}
	if _, err := g.Evaluate(ctx, task, candidate, val); err != nil {
		return Version{}, fmt.Errorf("gate: %w", err)
	}
	opts.Instances = valIDs(val)
	if opts.Source == "" {
		opts.Source = "gate"
	}
	return g.Store.Promote(ctx, task, candidate, opts)
}

// PromoteLessons makes a child of the current version's candidate that adds
// lessons (ids of stored lessons of the task), and promotes it through
// PromoteCandidate. The child is kept either way, as a record of what was
// tried.
func (g *Gate) PromoteLessons(ctx context.Context, task string, lessons []uint64, val []Instance, opts PromoteOptions) (Version, error) {
	cur, err := g.Store.Current(ctx, task)
	if err != nil {
		return Version{}, fmt.Errorf("gate: %w", err)
	}
	parent, err := g.Store.Candidate(ctx, task, cur.Candidate)
	if err != nil {
		return Version{}, fmt.Errorf("gate: %w", err)
	}
	ids := slices.Clone(parent.Lessons)
	for _, id := range lessons {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	child, err := g.Store.AddCandidate(ctx, Candidate{Task: task, System: parent.System, Lessons: ids, Demos: parent.Demos,
		Notes: parent.Notes, Parents: []uint64{parent.ID}, Generation: parent.Generation + 1, Proposer: "gate"})
	if err != nil {
		return Version{}, fmt.Errorf("gate: %w", err)
	}
	return g.PromoteCandidate(ctx, task, child.ID, val, opts)
}
