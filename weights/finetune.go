package weights

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/train"
)

// Pair is one supervised example: the model learns to continue Prompt with Completion and then stop.
type Pair struct {
	Prompt, Completion string
}

// LoRAOptions configures FineTune: the adapter's shape and the training run.
type LoRAOptions struct {
	LoRA  llama.LoRAConfig
	Train train.Options
	// Seed initializes the adapter's A matrices (the data order has its own seed in Train).
	Seed uint64
	// Adapter, if not nil, is trained further instead of a new adapter.
	Adapter *llama.Adapter
	// Recompute turns on per-block gradient checkpointing (llama.Workspace.Recompute): less activation
	// memory for a second forward pass through the blocks.
	Recompute bool
	// MemLimit, if positive, is the memory in bytes a training step may take by its estimate
	// (llama.Model.EstimateMemory): recomputation is turned on when the step does not fit without it, and a
	// step that does not fit even so is refused before training starts.
	MemLimit int64
}

// DefaultLoRA is a small adapter on the attention and feed-forward projections, rank 8, alpha 16.
var DefaultLoRA = llama.LoRAConfig{
	Rank: 8, Alpha: 16,
	Targets: []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"},
}

// Sequences tokenizes pairs for supervised fine-tuning: the prompt (with BOS) is context, the completion and
// EOS carry the loss. The error names the pair that does not fit the context.
func Sequences(m *Model, pairs []Pair) ([]llama.Sequence, error) {
	seqs := make([]llama.Sequence, 0, len(pairs))
	for i, p := range pairs {
		s, err := train.SFTSequence(m.Tokenizer, p.Prompt, p.Completion, m.Config.ContextLength)
		if err != nil {
			return nil, fmt.Errorf("example %d: %w", i+1, err)
		}
		seqs = append(seqs, s)
	}
	return seqs, nil
}

// FineTune trains a LoRA adapter of m on pairs, leaving m's weights unchanged. progress, if not nil, sees
// every step. With opt.Train.CheckpointPath set, a run that was stopped resumes where it left off.
func FineTune(ctx context.Context, m *Model, pairs []Pair, opt LoRAOptions, progress func(train.Progress)) (*llama.Adapter, train.Result, error) {
	if len(pairs) == 0 {
		return nil, train.Result{}, errors.New("fine-tune: no examples")
	}
	seqs, err := Sequences(m, pairs)
	if err != nil {
		return nil, train.Result{}, fmt.Errorf("fine-tune: %w", err)
	}
	return FineTuneSequences(ctx, m, seqs, opt, progress)
}

// FineTuneSequences is FineTune on sequences already built, such as ChatSequences makes from conversations.
func FineTuneSequences(ctx context.Context, m *Model, seqs []llama.Sequence, opt LoRAOptions, progress func(train.Progress)) (*llama.Adapter, train.Result, error) {
	if len(seqs) == 0 {
		return nil, train.Result{}, errors.New("fine-tune: no sequences")
	}
	var err error
	a := opt.Adapter
	if a == nil {
		cfg := opt.LoRA
		if cfg.Rank == 0 {
			cfg = DefaultLoRA
		}
		if a, err = llama.NewAdapter(m.Model, cfg, opt.Seed); err != nil {
			return nil, train.Result{}, fmt.Errorf("fine-tune: %w", err)
		}
	}
	shape, _, err := StepMemory(m, seqs, opt)
	if err != nil {
		return nil, train.Result{}, fmt.Errorf("fine-tune: %w", err)
	}
	ws := &llama.Workspace{Recompute: shape.Recompute, LossChunk: shape.LossChunk}
	res, err := train.Run(ctx, train.LoRAObjectiveIn(m.Model, a, ws), seqs, opt.Train, progress)
	if err != nil {
		return nil, res, fmt.Errorf("fine-tune: %w", err)
	}
	return a, res, nil
}

// StepMemory returns the shape of FineTuneSequences' largest training step on seqs under opt (its batch of
// the longest sequences, the adapter, and recomputation as opt.Recompute and opt.MemLimit decide) and that
// step's memory estimate. It fails when the step does not fit opt.MemLimit even with recomputation.
func StepMemory(m *Model, seqs []llama.Sequence, opt LoRAOptions) (llama.StepShape, llama.MemoryEstimate, error) {
	lora := opt.LoRA
	if opt.Adapter != nil {
		lora = opt.Adapter.Config
	} else if lora.Rank == 0 {
		lora = DefaultLoRA
	}
	batch := opt.Train.BatchSize
	if batch <= 0 {
		batch = train.DefaultBatchSize
	}
	if mb := opt.Train.MicroBatch; mb > 0 && mb < batch {
		batch = mb
	}
	lens := make([]int, len(seqs))
	for i, s := range seqs {
		lens[i] = len(s.Tokens)
	}
	slices.Sort(lens)
	slices.Reverse(lens)
	shape := llama.StepShape{LoRA: lora, Recompute: opt.Recompute}
	for _, n := range lens[:min(batch, len(lens))] {
		shape.Tokens += n
	}
	if len(lens) > 0 {
		shape.Longest = lens[0]
	}
	if opt.Recompute {
		return shape, m.Model.EstimateMemory(shape), nil
	}
	return m.Model.PlanMemory(shape, opt.MemLimit)
}
