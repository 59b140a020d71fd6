package fastslow

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/llama"
)

// Adoption is an adapter made elsewhere (trained with PEFT on GPUs, converted by llama.cpp, ...) offered to
// the slow channel, with what it is judged on.
type Adoption struct {
	// Task and Note are recorded with the version (Note: where the adapter came from).
	Task, Note string
	// Adapter is the adapter, already converted for the channel's base model.
	Adapter *llama.Adapter
	// Retention measures what must not be forgotten and Budget is the largest drop allowed from the served
	// state's score, as in a training round; nil Retention or a negative Budget skip the check.
	Retention Retention
	Budget    float64
	// Validation is the gate: the adapter must score at least what the served state scores on the task's
	// validation examples (as the prompt store promotes a prompt only when it does not lower the score). Nil
	// skips it.
	Validation Retention
}

// Adopt judges an adapter made elsewhere like a round the channel trained — the forgetting budget on the
// retention set, then the validation gate — and, when it passes both, writes it, deploys it and promotes it
// as a new version, which rollback treats like any other. When it fails either, nothing is written or
// deployed and the round says why (Promoted false, Reason set); an error means the adoption could not be
// judged or deployed.
func (s *SlowChannel) Adopt(ctx context.Context, in Adoption) (SlowRound, error) {
	s.round.Lock()
	defer s.round.Unlock()
	var round SlowRound
	a := in.Adapter
	if a == nil {
		return round, errors.New("slow channel: adopt: nil adapter")
	}
	if got, want := a.Architecture(), s.base.Config.Architecture(); got != want {
		return round, fmt.Errorf("slow channel: adopt: adapter made for a %s model, the base is %s", got, want)
	}
	// The adapter must fit the base: its GGUF form must load onto it (names, shapes, one rank).
	if err := fits(a, s.base.Model); err != nil {
		return round, fmt.Errorf("slow channel: adopt: %w", err)
	}
	// Judged on the weights each would be served with (for a merged deploy, the merged model).
	s.mu.Lock()
	rollbacks := s.rollbacks
	s.mu.Unlock()
	round.Mode, round.ModeReason = s.roundMode(ctx)
	servedM, servedA := s.servedScoring()
	newM, newA, err := s.scoring(ctx, a, round.Mode)
	if err != nil {
		return round, fmt.Errorf("slow channel: adopt: %w", err)
	}
	before, after := 1.0, 1.0
	if in.Retention != nil && in.Budget >= 0 {
		var err error
		if before, err = in.Retention(ctx, servedM, servedA); err != nil {
			return round, fmt.Errorf("slow channel: adopt: retention: %w", err)
		}
		if after, err = in.Retention(ctx, newM, newA); err != nil {
			return round, fmt.Errorf("slow channel: adopt: retention: %w", err)
		}
		if before-after > in.Budget {
			round.Reason = fmt.Sprintf("retention would fall from %.3f to %.3f, over the budget of %.3f; not adopted", before, after, in.Budget)
			return round, nil
		}
	}
	if in.Validation != nil {
		served, err := in.Validation(ctx, servedM, servedA)
		if err != nil {
			return round, fmt.Errorf("slow channel: adopt: validation: %w", err)
		}
		got, err := in.Validation(ctx, newM, newA)
		if err != nil {
			return round, fmt.Errorf("slow channel: adopt: validation: %w", err)
		}
		if got < served {
			round.Reason = fmt.Sprintf("validation score %.3f is below the served state's %.3f; not adopted", got, served)
			return round, nil
		}
	}
	round, err = s.promote(ctx, in.Task, a, round, before, after, rollbacks, nil)
	if err != nil || !round.Promoted || in.Note == "" {
		return round, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.state.Versions {
		if s.state.Versions[i].Seq == round.Version.Seq {
			s.state.Versions[i].Note = in.Note
		}
	}
	round.Version.Note = in.Note
	return round, s.save(s.state)
}

// fits checks a against m the way a saved adapter is checked on loading: every tensor adapts one of m's
// matrices with matching shapes.
func fits(a *llama.Adapter, m *llama.Model) error {
	for _, p := range a.Params() {
		name, isB := strings.CutSuffix(p.Name, ".lora_b")
		if !isB {
			name = strings.TrimSuffix(p.Name, ".lora_a")
		}
		w, ok := m.Tensor(name)
		if !ok || len(w.Shape) != 2 || len(p.Shape) != 2 {
			return fmt.Errorf("tensor %s adapts %s, which the base model does not have", p.Name, name)
		}
		// lora_a is [n_in, r], lora_b [r, n_out]; the matrix is [n_in, n_out].
		if (!isB && p.Shape[0] != w.Shape[0]) || (isB && p.Shape[1] != w.Shape[1]) {
			return fmt.Errorf("tensor %s has shape %v, which does not fit %s %v", p.Name, p.Shape, name, w.Shape)
		}
	}
	return nil
}

// VersionAdapter loads the adapter of version seq from the channel's directory.
func (s *SlowChannel) VersionAdapter(seq int) (*llama.Adapter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.version(seq)
	if !ok {
		return nil, fmt.Errorf("slow channel: no adapter version %d (have %s)", seq, s.seqList())
	}
	a, err := weights.LoadAdapter(filepath.Join(s.dir, v.Path), s.base.Model)
	if err != nil {
		return nil, fmt.Errorf("slow channel: version %d: %w", seq, err)
	}
	return a, nil
}

// EngineScore returns a Retention that asks the model it is given (base when that is nil), through the
// in-process engine, each example's raw prompt (greedy, at most maxTokens tokens) and scores the share
// answered correctly (Example.Correct). An empty set scores 1.
func EngineScore(base *weights.Model, ex []Example, maxTokens int) Retention {
	return func(ctx context.Context, m *weights.Model, a *llama.Adapter) (float64, error) {
		if m == nil {
			m = base
		}
		if len(ex) == 0 {
			return 1, nil
		}
		return shareCorrect(ex, func(e Example) (string, bool, error) {
			return engineAnswer(ctx, m, e.Prompt, maxTokens, a)
		})
	}
}
