package fastslow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fastslow/fastslow/prompts"
)

// Correction is what an agent learned about one served answer: the input, what the model said, how good it was
// (Score in [0, 1]), an optional critique and, when known, the right answer.
type Correction struct {
	Task   string
	Input  string
	Output string
	Score  float64
	// Critique is the agent's comment on the answer, kept with the record.
	Critique string
	// Answer is the correct output; with it the correction teaches.
	Answer string
}

// FlushPolicy says when the corrections waiting for a weight round start one in the background.
type FlushPolicy struct {
	// After starts a round once a task has this many pending corrections (0: never by count).
	After int
	// Every starts a round once a task's oldest pending correction has waited this long (0: never by time).
	Every time.Duration
}

// pending is one correction waiting for a weight round: its feedback record's id and the example it teaches.
type pending struct {
	id uint64
	at time.Time
	ex Example
}

// markName is the store mark holding the id of the last feedback record this learner trained on.
func (l *Learner) markName() string { return "fastslow.trained." + l.cfg.Name }

// Feedback records c and learns from it at once where that is cheap, and returns the id of its record in the
// prompt store. Under a policy with prompts (PolicyFST, PolicyPrompts) a corrected answer becomes a note (a fact
// to look up) and a demo, so the next prompt for a similar input carries it; under a policy with weights
// (PolicyFST, PolicyWeights, PolicyReplay) the corrected example also waits for the next weight round, which the
// flush policy starts in the background (or Flush, on demand). Waiting corrections are the store's feedback
// records after the learner's mark, so they survive a restart or a killed process. A correction without an
// answer is only recorded. Feedback never waits for a weight round.
func (l *Learner) Feedback(ctx context.Context, c Correction) (uint64, error) {
	if c.Task == "" || strings.TrimSpace(c.Input) == "" {
		return 0, errors.New("feedback: task and input are required")
	}
	if c.Score < 0 || c.Score > 1 {
		return 0, fmt.Errorf("feedback: score %g is outside [0, 1]", c.Score)
	}
	if _, err := l.store.EnsureTask(ctx, c.Task, ""); err != nil {
		return 0, fmt.Errorf("feedback: %w", err)
	}
	rec, err := l.store.RecordFeedback(ctx, prompts.Feedback{
		Task: c.Task, Input: c.Input, Output: c.Output, Answer: c.Answer, Score: c.Score, Text: c.Critique,
	})
	if err != nil {
		return 0, fmt.Errorf("feedback: %w", err)
	}
	ex, ok := correctionExample(rec)
	if !ok {
		return rec.ID, nil
	}
	if l.usesPrompts() {
		text := strings.TrimSpace(ex.Prompt + ex.Completion)
		if _, err := l.store.AddNote(ctx, prompts.Note{Task: c.Task, Text: text, Source: "feedback", Feedback: []uint64{rec.ID}}); err != nil {
			return rec.ID, fmt.Errorf("feedback: %w", err)
		}
		if _, err := l.store.AddDemos(ctx, c.Task, []prompts.Demo{{Task: c.Task, Input: ex.Prompt, Output: ex.Completion, Source: "feedback", Feedback: []uint64{rec.ID}}}); err != nil {
			return rec.ID, fmt.Errorf("feedback: %w", err)
		}
	}
	if l.cfg.Policy.Channels().Weights {
		l.mu.Lock()
		l.queue[c.Task] = append(l.queue[c.Task], pending{id: rec.ID, at: rec.Created, ex: ex})
		l.mu.Unlock()
		l.kick()
	}
	return rec.ID, nil
}

// correctionExample is the training example a feedback record teaches, if it has an answer.
func correctionExample(fb prompts.Feedback) (Example, bool) {
	a := strings.TrimSpace(fb.Answer)
	if a == "" {
		return Example{}, false
	}
	return Example{Prompt: fb.Input, Completion: " " + a, Answer: a, Task: fb.Task}, true
}

// loadQueue reads the corrections waiting for a weight round from the store: every feedback record with an
// answer after the learner's mark.
func (l *Learner) loadQueue(ctx context.Context) error {
	if !l.cfg.Policy.Channels().Weights {
		return nil
	}
	tasks, err := l.store.Tasks(ctx)
	if err != nil {
		return err
	}
	for _, t := range tasks {
		mark, err := l.store.Mark(ctx, t.Name, l.markName())
		if err != nil {
			return err
		}
		fbs, err := l.store.ListFeedback(ctx, t.Name)
		if err != nil {
			return err
		}
		for _, fb := range fbs {
			if ex, ok := correctionExample(fb); ok && fb.ID > mark {
				l.queue[t.Name] = append(l.queue[t.Name], pending{id: fb.ID, at: fb.Created, ex: ex})
			}
		}
	}
	return nil
}

// Pending is the number of corrected examples of task waiting for a weight round.
func (l *Learner) Pending(task string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queue[task])
}

// PendingIDs is the ids of task's feedback records waiting for a weight round (see Feedback), oldest first;
// Store().Feedback reads each record.
func (l *Learner) PendingIDs(task string) []uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]uint64, len(l.queue[task]))
	for i, p := range l.queue[task] {
		ids[i] = p.id
	}
	return ids
}

// Flush runs a learning round on task's waiting corrections (see Feedback), validated on the same examples,
// and waits for it; it marks them trained only when the round succeeds. With nothing waiting it does nothing.
// Answer and Feedback go on meanwhile, served by the versions promoted before.
func (l *Learner) Flush(ctx context.Context, task string) (Round, error) {
	l.round.Lock()
	defer l.round.Unlock()
	l.mu.Lock()
	batch := slices.Clone(l.queue[task])
	l.mu.Unlock()
	if len(batch) == 0 {
		return Round{Task: task, Policy: l.cfg.Policy.Name()}, nil
	}
	ex := make([]Example, len(batch))
	last := uint64(0)
	for i, p := range batch {
		ex[i] = p.ex
		last = max(last, p.id)
	}
	r, err := l.learn(ctx, task, ex, ex)
	if err != nil {
		return r, err
	}
	if err := l.store.SetMark(ctx, task, l.markName(), last); err != nil {
		return r, fmt.Errorf("flush %s: %w", task, err)
	}
	l.mu.Lock()
	l.queue[task] = slices.DeleteFunc(l.queue[task], func(p pending) bool { return p.id <= last })
	l.mu.Unlock()
	return r, nil
}

// retryAfter is how long the background loop leaves a task alone after its round failed.
const retryAfter = time.Minute

// kick wakes the background loop.
func (l *Learner) kick() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// due returns the tasks whose waiting corrections the flush policy says to learn now.
func (l *Learner) due(now time.Time) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for task, q := range l.queue {
		if len(q) == 0 {
			continue
		}
		if now.Before(l.retryAt[task]) {
			continue
		}
		if f := l.cfg.Flush; f.After > 0 && len(q) >= f.After || f.Every > 0 && now.Sub(q[0].at) >= f.Every {
			out = append(out, task)
		}
	}
	slices.Sort(out)
	return out
}

// background runs weight rounds when the flush policy says so, until ctx is done.
func (l *Learner) background(ctx context.Context) {
	defer close(l.done)
	tick := time.Second
	if e := l.cfg.Flush.Every; e > 0 && e/4 < tick {
		tick = max(e/4, 10*time.Millisecond)
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
		case <-t.C:
		}
		for _, task := range l.due(time.Now()) {
			if ctx.Err() != nil {
				return
			}
			l.emit(Event{Task: task, Stage: "round", Message: fmt.Sprintf("background round on %d corrections", l.Pending(task))})
			r, err := l.Flush(ctx, task)
			if err != nil {
				l.mu.Lock()
				l.retryAt[task] = time.Now().Add(retryAfter)
				l.mu.Unlock()
				l.emit(Event{Task: task, Stage: "failed", Message: err.Error(), Err: err})
				continue
			}
			l.emit(Event{Task: task, Stage: "done", Message: fmt.Sprintf("%d weight steps", r.WeightSteps), Round: &r})
		}
	}
}
