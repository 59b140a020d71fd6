package fastslow

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/fastslow/fastslow/prompts"
)

// Feedback is what an agent learned about one served answer: the input, what the model said, how good it was
// (Score in [0, 1]), an optional text critique and, when known, the right answer.
type Feedback struct {
	Task   string
	Input  string
	Output string
	Score  float64
	Text   string
	// Answer is the correct output; with it the feedback can teach.
	Answer string
}

// Feedback records fb and learns from it at once where that is cheap. Under a policy with prompts (PolicyFST,
// PolicyPrompts) a corrected answer becomes a note (a fact to look up) and a demo, so the next prompt for a
// similar input carries it; under a policy with weights (PolicyFST, PolicyWeights, PolicyReplay) the corrected
// example also waits in the task's queue for the next weight round (Flush). Feedback without an answer is only
// recorded.
func (l *Learner) Feedback(ctx context.Context, fb Feedback) error {
	if fb.Task == "" || strings.TrimSpace(fb.Input) == "" {
		return errors.New("feedback: task and input are required")
	}
	if fb.Score < 0 || fb.Score > 1 {
		return fmt.Errorf("feedback: score %g is outside [0, 1]", fb.Score)
	}
	if _, err := l.store.EnsureTask(ctx, fb.Task, ""); err != nil {
		return fmt.Errorf("feedback: %w", err)
	}
	rec, err := l.store.RecordFeedback(ctx, prompts.Feedback{
		Task: fb.Task, Input: fb.Input, Output: fb.Output, Answer: fb.Answer, Score: fb.Score, Text: fb.Text,
	})
	if err != nil {
		return fmt.Errorf("feedback: %w", err)
	}
	if fb.Answer == "" {
		return nil
	}
	ex := Example{Prompt: fb.Input, Completion: " " + strings.TrimSpace(fb.Answer), Answer: strings.TrimSpace(fb.Answer), Task: fb.Task}
	if l.usesPrompts() {
		text := strings.TrimSpace(ex.Prompt + ex.Completion)
		if _, err := l.store.AddNote(ctx, prompts.Note{Task: fb.Task, Text: text, Source: "feedback", Feedback: []uint64{rec.ID}}); err != nil {
			return fmt.Errorf("feedback: %w", err)
		}
		if _, err := l.store.AddDemos(ctx, fb.Task, []prompts.Demo{{Task: fb.Task, Input: ex.Prompt, Output: ex.Completion, Source: "feedback", Feedback: []uint64{rec.ID}}}); err != nil {
			return fmt.Errorf("feedback: %w", err)
		}
	}
	if l.cfg.Policy.Channels().Weights {
		l.mu.Lock()
		l.queue[fb.Task] = append(l.queue[fb.Task], ex)
		l.mu.Unlock()
	}
	return nil
}

// Pending is the number of corrected examples of task waiting for a weight round.
func (l *Learner) Pending(task string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queue[task])
}

// Flush runs a learning round on task's queued corrections (see Feedback), validated on the same examples, and
// empties the queue. With nothing queued it does nothing.
func (l *Learner) Flush(ctx context.Context, task string) (Round, error) {
	l.mu.Lock()
	ex := l.queue[task]
	delete(l.queue, task)
	l.mu.Unlock()
	if len(ex) == 0 {
		return Round{Task: task, Policy: l.cfg.Policy.Name()}, nil
	}
	r, err := l.Learn(ctx, task, ex, ex)
	if err != nil {
		l.mu.Lock()
		l.queue[task] = append(ex, l.queue[task]...)
		l.mu.Unlock()
	}
	return r, err
}
