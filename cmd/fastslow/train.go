package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/train"
)

func newTrainCmd() *cobra.Command {
	var (
		base, data, out, checkpoint, targets string
		rank, steps, batch, warmup, every    int
		alpha                                float32
		lr, clip                             float64
		seed                                 uint64
		asJSON, quiet                        bool
	)
	cmd := &cobra.Command{
		Use:   "train --base MODEL.gguf --data TRAIN.jsonl --out ADAPTER.gguf",
		Short: "Train a LoRA adapter on prompt/completion examples",
		Long: `Train a LoRA adapter of a GGUF base model on a JSONL file of {"prompt","completion"} examples. The loss
covers the completion and the end-of-sequence token only. The run checkpoints as it goes (--checkpoint, by default
next to --out): interrupted with Ctrl-C or killed, the same command resumes where it stopped.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if base == "" || out == "" {
				return usagef("--base and --out are required")
			}
			ex, err := readExamples(data)
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
				LoRA: llama.LoRAConfig{Rank: rank, Alpha: alpha, Targets: strings.Split(targets, ",")},
				Train: train.Options{
					Steps: steps, BatchSize: batch, LR: lr, Warmup: warmup, Decay: train.DecayCosine,
					ClipNorm: clip, Seed: seed, CheckpointPath: checkpoint, CheckpointEvery: every,
				},
				Seed: seed,
			}
			w := cmd.OutOrStdout()
			progress := func(p train.Progress) {
				if quiet || asJSON {
					return
				}
				if p.Step == 1 || p.Step == p.Total || p.Step%10 == 0 {
					fmt.Fprintf(w, "step %4d/%d  loss %.4f  lr %.2e  %6.0f tokens/s\n", p.Step, p.Total, p.Loss, p.LR, p.TokensPerSec)
				}
			}
			a, res, err := weights.FineTune(cmd.Context(), m, pairs(ex), opt, progress)
			if err != nil {
				if cmd.Context().Err() != nil {
					return fmt.Errorf("%w (checkpoint kept in %s; run the same command to resume)", err, checkpoint)
				}
				return err
			}
			if err := weights.SaveAdapter(out, a, ""); err != nil {
				return err
			}
			tps := float64(res.Tokens) / res.Elapsed.Seconds()
			if asJSON {
				return json.NewEncoder(w).Encode(map[string]any{
					"adapter": out, "steps": res.Steps, "final_loss": res.FinalLoss(), "tokens": res.Tokens,
					"seconds": res.Elapsed.Seconds(), "tokens_per_second": tps, "resumed_from": res.ResumedFrom,
				})
			}
			fmt.Fprintf(w, "wrote %s: %d steps, final loss %.4f, %.0f trained tokens/s\n", out, res.Steps, res.FinalLoss(), tps)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&base, "base", "", "base model GGUF file")
	f.StringVar(&data, "data", "", "training examples, JSONL of {\"prompt\",\"completion\"}")
	f.StringVar(&out, "out", "", "where to write the adapter GGUF")
	f.StringVar(&checkpoint, "checkpoint", "", "checkpoint file (default OUT.ckpt)")
	f.StringVar(&targets, "targets", strings.Join(weights.DefaultLoRA.Targets, ","), "projections to adapt (GGUF or PEFT names)")
	f.IntVar(&rank, "rank", weights.DefaultLoRA.Rank, "LoRA rank")
	f.Float32Var(&alpha, "alpha", weights.DefaultLoRA.Alpha, "LoRA alpha (the update is scaled by alpha/rank)")
	f.IntVar(&steps, "steps", 200, "optimizer steps")
	f.IntVar(&batch, "batch", 8, "sequences per step")
	f.IntVar(&warmup, "warmup", 10, "warmup steps")
	f.IntVar(&every, "checkpoint-every", 25, "steps between checkpoints")
	f.Float64Var(&lr, "lr", 2e-3, "peak learning rate")
	f.Float64Var(&clip, "clip", 1, "gradient norm clip (0: off)")
	f.Uint64Var(&seed, "seed", 1, "seed for the adapter's initialization and the data order")
	f.BoolVar(&asJSON, "json", false, "print a JSON summary instead of progress lines")
	f.BoolVar(&quiet, "quiet", false, "print only the summary")
	return cmd
}
