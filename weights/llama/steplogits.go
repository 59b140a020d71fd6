package llama

import (
	"context"
	"errors"
	"fmt"
)

// StepLogits decodes prompt as one batch and then each token of continuation one at a time, as Generate
// does (the same key/value cache and arithmetic), and returns the next-token logits after the prompt and
// after each continuation token: len(continuation)+1 rows of Vocab values. Parity tests compare them with
// the log-probabilities a server reports for a continuation. a may be nil.
func (m *Model) StepLogits(ctx context.Context, prompt, continuation []int32, a *Adapter) ([][]float32, error) {
	switch {
	case len(prompt) == 0:
		return nil, errors.New("llama: step logits: empty prompt")
	case len(prompt)+len(continuation) > m.Config.ContextLength:
		return nil, fmt.Errorf("llama: step logits: %d tokens exceed context length %d",
			len(prompt)+len(continuation), m.Config.ContextLength)
	}
	if err := m.checkTokens(prompt); err != nil {
		return nil, fmt.Errorf("llama: step logits: %w", err)
	}
	if err := m.checkTokens(continuation); err != nil {
		return nil, fmt.Errorf("llama: step logits: %w", err)
	}
	if err := a.check(m); err != nil {
		return nil, fmt.Errorf("llama: step logits: %w", err)
	}
	cache := m.newKVCache(len(prompt) + len(continuation))
	logits, err := m.decode(ctx, prompt, cache, a)
	if err != nil {
		return nil, fmt.Errorf("llama: step logits: %w", err)
	}
	out := [][]float32{logits}
	for _, tok := range continuation {
		if logits, err = m.decode(ctx, []int32{tok}, cache, a); err != nil {
			return nil, fmt.Errorf("llama: step logits: %w", err)
		}
		out = append(out, logits)
	}
	return out, nil
}
