package lab

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/fastslow/fastslow/fastslow"
)

// countingServer counts the generations a server runs while counting is on (inside Learn), and shows them to
// the audit. The base model's answers (handle "") are greedy, so the same prompt always gets the same answer:
// they come from a cache shared by every run (runs at the same seed share their first task's prompt search).
type countingServer struct {
	fastslow.Server
	on     *atomic.Bool
	n      *atomic.Int64
	cached *atomic.Int64
	audit  func(stage, text string)
	stage  *atomic.Value
	base   *answerCache
}

func (s countingServer) Generate(ctx context.Context, handle, prompt string, maxTokens int) (string, error) {
	counting := s.on.Load()
	if counting {
		s.n.Add(1)
	}
	if st, _ := s.stage.Load().(string); st != "" {
		s.audit(st, prompt)
	}
	if handle != "" || s.base == nil {
		return s.Server.Generate(ctx, handle, prompt, maxTokens)
	}
	out, hit, err := s.base.get(ctx, prompt, maxTokens, func() (string, error) { return s.Server.Generate(ctx, handle, prompt, maxTokens) })
	if hit && counting {
		s.cached.Add(1)
	}
	return out, err
}

// answerCache holds the base model's greedy answers by prompt and token budget. Concurrent askers of one
// missing prompt each generate it (the answers are equal); the cache keeps one.
type answerCache struct {
	mu sync.Mutex
	m  map[answerKey]string
}

type answerKey struct {
	prompt    string
	maxTokens int
}

func (c *answerCache) get(ctx context.Context, prompt string, maxTokens int, gen func() (string, error)) (string, bool, error) {
	k := answerKey{prompt, maxTokens}
	c.mu.Lock()
	out, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return out, true, nil
	}
	out, err := gen()
	if err != nil {
		return "", false, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[answerKey]string{}
	}
	c.m[k] = out
	c.mu.Unlock()
	return out, false, nil
}

// auditStore shows the learner's whole prompt store (every task's notes, demos, lessons and candidates, as an
// export writes them) to the audit under "store": whatever a served prompt, a weight-training pair or a gate
// check is rendered from.
func auditStore(ctx context.Context, l *fastslow.Learner, audit func(stage, text string)) error {
	var b strings.Builder
	if err := l.Store().Export(ctx, &b); err != nil {
		return fmt.Errorf("audit: export the prompt store: %w", err)
	}
	audit("store", b.String())
	return nil
}
