package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/fastslow/fastslow/internal/config"
	"github.com/fastslow/fastslow/internal/progress"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/train"
)

func newTrainCmd() *cobra.Command {
	var (
		data, out, checkpoint string
		warmup, every         int
		clip                  float64
		seed                  uint64
		asJSON, quiet         bool
		memLimit              string
		recompute             bool
	)
	cmd := &cobra.Command{
		Use:   "train [--base MODEL] --data TRAIN.jsonl --out ADAPTER.gguf",
		Short: "Train a LoRA adapter on prompt/completion or chat examples",
		Long: `Train a LoRA adapter of a GGUF base model on a JSONL file of {"prompt","completion"} examples, where the loss
covers the completion and the end-of-sequence token only, or of chat examples
{"messages":[{"role":"system"|"user"|"assistant","content":"..."},...]}, rendered with the model's chat template as
Ollama renders them for /api/chat (the template Ollama stores for an Ollama model, else the one it derives from the
GGUF), where the loss covers the assistant turns and the token that ends each. The run checkpoints as it goes
(--checkpoint, by default next to --out): interrupted with Ctrl-C or killed, the same command resumes where it
stopped; a finished run removes its checkpoint.

The base is a GGUF file or the name of an Ollama model whose GGUF is on this machine. The base, the LoRA shape
and the training settings default to the configuration (see 'fastslow config').`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := conf(cmd)
			if err != nil {
				return err
			}
			if out == "" {
				return usagef("--out is required")
			}
			ex, err := readExamples(data)
			if err != nil {
				return err
			}
			base, _, err := labModel(cmd.Context(), l) // the embedded default when no model is configured
			if err != nil {
				return err
			}
			m, err := weights.Load(base)
			if err != nil {
				return err
			}
			if checkpoint == "" {
				checkpoint = out + ".ckpt"
			}
			opt := weights.LoRAOptions{
				LoRA: llama.LoRAConfig{Rank: l.Rank, Alpha: float32(l.Alpha), Targets: l.Targets},
				Train: train.Options{
					Steps: l.Steps, BatchSize: l.Batch, LR: l.LR, Warmup: warmup, Decay: train.DecayCosine,
					ClipNorm: clip, Seed: seed, CheckpointPath: checkpoint, CheckpointEvery: every,
				},
				Seed: seed, Recompute: recompute,
			}
			if opt.MemLimit, err = parseBytes(memLimit); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			meter := progress.New(cmd.ErrOrStderr(), l.Steps, progress.Options{Label: "train", Unit: "steps", Mode: progressMode(quiet || asJSON)})
			seqs, err := trainSequences(cmd.Context(), l, m, base, data, ex)
			if err != nil {
				return err
			}
			_, est, err := weights.StepMemory(m, seqs, opt)
			if err != nil {
				return err
			}
			a, res, err := weights.FineTuneSequences(cmd.Context(), m, seqs, opt, func(p train.Progress) {
				meter.Update(p.Step, fmt.Sprintf("loss %.4f  lr %.2e  %.0f tok/s", p.Loss, p.LR, p.TokensPerSec))
			})
			meter.Finish()
			if err != nil {
				if cmd.Context().Err() != nil {
					return fmt.Errorf("%w (checkpoint kept in %s; run the same command to resume)", err, checkpoint)
				}
				return err
			}
			if err := weights.SaveAdapter(out, a, ""); err != nil {
				return err
			}
			if err := os.Remove(checkpoint); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove the finished run's checkpoint: %w", err)
			}
			tps := float64(res.Tokens) / res.Elapsed.Seconds()
			if asJSON {
				return json.NewEncoder(w).Encode(map[string]any{
					"adapter": out, "steps": res.Steps, "final_loss": res.FinalLoss(), "tokens": res.Tokens,
					"seconds": res.Elapsed.Seconds(), "tokens_per_second": tps, "resumed_from": res.ResumedFrom,
					"memory_estimate_bytes": est.Total(), "recompute": est.Recompute,
				})
			}
			fmt.Fprintf(w, "wrote %s: %d steps, final loss %.4f, %.0f trained tokens/s\nmemory estimate per step: %v\n",
				out, res.Steps, res.FinalLoss(), tps, est)
			return nil
		},
	}
	f := cmd.Flags()
	config.AddFlagAs(f, "base", "model", "base model: a GGUF file or an Ollama model name")
	f.StringVar(&data, "data", "", "training examples, JSONL of {\"prompt\",\"completion\"}")
	f.StringVar(&out, "out", "", "where to write the adapter GGUF")
	f.StringVar(&checkpoint, "checkpoint", "", "checkpoint file (default OUT.ckpt)")
	for _, k := range []string{"targets", "rank", "alpha", "steps", "batch", "lr"} {
		config.AddFlag(f, k)
	}
	f.IntVar(&warmup, "warmup", 10, "warmup steps")
	f.IntVar(&every, "checkpoint-every", 25, "steps between checkpoints")
	f.Float64Var(&clip, "clip", 1, "gradient norm clip (0: off)")
	f.Uint64Var(&seed, "seed", 1, "seed for the adapter's initialization and the data order")
	f.BoolVar(&asJSON, "json", false, "print a JSON summary and no progress")
	f.BoolVar(&quiet, "quiet", false, "print only the summary, no progress")
	f.StringVar(&memLimit, "mem-limit", "", "memory a training step may take by its estimate, e.g. 4GB or 12GiB: recompute blocks in the backward when needed (default: no limit)")
	f.BoolVar(&recompute, "recompute", false, "recompute each block in the backward instead of keeping its activations (less memory, a second forward)")
	return cmd
}
