package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fastslow/fastslow/eval/pretrain"
	"github.com/fastslow/fastslow/weights/gguf"
)

func newPretrainCmd() *cobra.Command {
	var (
		out, recipeFile, prose string
		steps, batch           int
		lr                     float64
		asJSON, quiet, show    bool
	)
	cmd := &cobra.Command{
		Use:   "pretrain [--out FILE] [--steps N] [--recipe FILE] [--json]",
		Short: "Pretrain the small base model of the embedded default from its recipe",
		Long: `Pretrain a small llama base model from scratch on the synthetic world (biographies of made-up people, their
question-answer pairs, in-context documents and real prose), save it as a GGUF file with its recipe in the metadata,
and report what it learnt: accuracy on facts from pretraining, accuracy on facts given in the prompt, and held-out
prose perplexity. Without flags it runs the recipe of the embedded default model; --recipe reads another one (JSON, or
the recipe recorded in a GGUF model file), and --steps, --batch and --lr override parts of it.

Training checkpoints next to the output (OUT.ckpt): stopped with Ctrl-C or killed, the same command resumes where it
stopped. The checkpoint is removed once the model is written and evaluated.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r := pretrain.DefaultRecipe()
			if recipeFile != "" {
				var err error
				if r, err = readRecipe(recipeFile); err != nil {
					return err
				}
			}
			f := cmd.Flags()
			if f.Changed("steps") {
				r.Train.Steps = steps
			}
			if f.Changed("batch") {
				r.Train.BatchSize = batch
			}
			if f.Changed("lr") {
				r.Train.LR = lr
			}
			w := cmd.OutOrStdout()
			if show {
				return printJSON(w, r)
			}
			if out == "" {
				return usagef("--out must not be empty")
			}
			r.Corpus.ProsePath = prose
			if err := r.Validate(); err != nil {
				return usageError{err}
			}
			report, err := pretrain.Pretrain(cmd.Context(), r, out, pretrainProgress(w, quiet || asJSON))
			if err != nil {
				if cmd.Context().Err() != nil {
					return fmt.Errorf("%w (checkpoint kept in %s; run the same command to resume)", err, pretrain.CheckpointPath(out))
				}
				return err
			}
			if asJSON {
				return printJSON(w, report)
			}
			printReport(w, report)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", pretrain.DefaultName+".gguf", "where to write the model GGUF")
	f.StringVar(&recipeFile, "recipe", "", "recipe to run: a JSON file, or a GGUF model whose recorded recipe to repeat (default: the embedded model's)")
	f.StringVar(&prose, "prose", "", "war-and-peace.txt to read (default: found in the Go module cache)")
	f.IntVar(&steps, "steps", 0, "override the recipe's optimizer steps")
	f.IntVar(&batch, "batch", 0, "override the recipe's sequences per step")
	f.Float64Var(&lr, "lr", 0, "override the recipe's peak learning rate")
	f.BoolVar(&show, "print-recipe", false, "print the recipe as JSON and exit")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON instead of progress lines")
	f.BoolVar(&quiet, "quiet", false, "print only the report")
	return cmd
}

// readRecipe reads a recipe from a JSON file or from the metadata of a GGUF model.
func readRecipe(path string) (pretrain.Recipe, error) {
	if strings.HasSuffix(path, ".gguf") {
		f, err := gguf.Open(path)
		if err != nil {
			return pretrain.Recipe{}, err
		}
		defer f.Close()
		return pretrain.ReadRecipe(f)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return pretrain.Recipe{}, fmt.Errorf("read recipe: %w", err)
	}
	var r pretrain.Recipe
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return pretrain.Recipe{}, usagef("recipe %s: %v", path, err)
	}
	return r, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// pretrainProgress prints each stage and every 25th training step with an estimate of the time left.
func pretrainProgress(w io.Writer, silent bool) func(pretrain.Progress) {
	start := time.Now()
	first := -1 // steps done before this call (a resumed run starts past 0)
	return func(p pretrain.Progress) {
		if silent {
			return
		}
		if p.Message != "" {
			fmt.Fprintf(w, "%-9s %s\n", p.Stage, p.Message)
			return
		}
		t := p.Train
		if first < 0 || t.Step == t.Total || t.Step%25 == 0 {
			elapsed := time.Since(start)
			if first < 0 {
				first = t.Step - 1
			}
			// t.Elapsed counts from this call, so the pace is over this call's steps only.
			left := time.Duration(float64(t.Elapsed) / float64(t.Step-first) * float64(t.Total-t.Step))
			fmt.Fprintf(w, "step %5d/%d  loss %.4f  lr %.2e  %5.0f tokens/s  elapsed %s  left ~%s\n",
				t.Step, t.Total, t.Loss, t.LR, t.TokensPerSec, elapsed.Round(time.Second), left.Round(time.Second))
		}
	}
}

// printReport writes the evaluation as a table.
func printReport(w io.Writer, r pretrain.Report) {
	fmt.Fprintf(w, "\nwrote %s: %d bytes (%s), %d parameters, vocabulary %d\n", r.Out, r.FileBytes, r.Recipe.Type, r.Params, r.Vocab)
	fmt.Fprintf(w, "trained %d steps (final loss %.4f) in %s at %.0f tokens/s; %d sequences, %d tokens per epoch\n",
		r.Steps, r.FinalLoss, time.Duration(r.TrainSeconds*float64(time.Second)).Round(time.Second), r.TokensPerSecond, r.Data.Sequences, r.Data.Tokens)
	fmt.Fprintln(w, "\nfacts from pretraining (greedy exact match):")
	for _, s := range r.Eval.Facts {
		mix := "biographies only"
		if s.InMix {
			mix = "questions in pretraining"
		}
		fmt.Fprintf(w, "  %-10s %-5s %4d/%-4d %5.1f%%  (baseline %4.1f%%, %s)\n", s.Group, s.Format, s.Correct, s.Total, 100*s.Accuracy, 100*s.Baseline, mix)
	}
	fmt.Fprintln(w, "facts given in the prompt (newcomers):")
	for _, s := range r.Eval.InContext {
		fmt.Fprintf(w, "  %-10s %-5s %4d/%-4d %5.1f%%  (baseline %4.1f%%)\n", s.Context, s.Format, s.Correct, s.Total, 100*s.Accuracy, 100*s.Baseline)
	}
	if r.Eval.PerplexityTokens > 0 {
		fmt.Fprintf(w, "held-out prose perplexity: %.2f over %d tokens\n", r.Eval.Perplexity, r.Eval.PerplexityTokens)
	}
}
