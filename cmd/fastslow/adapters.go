package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/internal/config"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/peft"
)

func newAdaptersCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "adapters",
		Short: "Bring LoRA adapters trained elsewhere in (PEFT, llama.cpp GGUF) and send the learner's out as PEFT",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newAdaptersImportCmd(), newAdaptersExportCmd())
	return cmd
}

// AdapterImport is what 'fastslow adapters import --json' prints.
type AdapterImport struct {
	Path            string  `json:"path"`
	Format          string  `json:"format"`
	Promoted        bool    `json:"promoted"`
	Version         int     `json:"version,omitempty"`
	Model           string  `json:"model,omitempty"`
	RetentionBefore float64 `json:"retention_before"`
	RetentionAfter  float64 `json:"retention_after"`
	Reason          string  `json:"reason,omitempty"`
}

// errNotAdopted marks an adapter the budget or the gate refused.
var errNotAdopted = errors.New("not adopted")

func newAdaptersImportCmd() *cobra.Command {
	var (
		task, retention, val string
		asJSON               bool
	)
	cmd := &cobra.Command{
		Use:   "import DIR|FILE [--task NAME] [--val VAL.jsonl] [--retention KEEP.jsonl]",
		Short: "Import a PEFT or GGUF LoRA adapter into the learner, through the forgetting budget and the gate",
		Long: `Import converts an adapter trained elsewhere for the configured base model: a Hugging Face PEFT LoRA directory
(adapter_config.json + adapter_model.safetensors; r, lora_alpha, use_rslora, target_modules q_proj..down_proj) or
a GGUF LoRA as llama.cpp's convert_lora_to_gguf.py writes it. It is checked against the base (architecture, layers,
shapes, config against tensors); then, like an adapter the learner trained, it must keep the accuracy on the
retention set (--retention, {"prompt","completion"[,"answer"]} lines asked with their raw prompts) within the
forgetting budget (--budget), and must score on the task's validation examples (--val, asked with the task's served
prompt) at least what the served model scores. Only then is it written, deployed and made the learner's current
adapter version, which 'fastslow rollback' undoes. Refused or invalid, nothing is deployed and the exit code is 1.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sets, err := readExampleFiles(task, retention, val)
			if err != nil {
				return err
			}
			keep, valEx := sets[0], sets[1]
			l, ln, err := openConfigured(cmd)
			if err != nil {
				return err
			}
			defer ln.Close()
			ctx := cmd.Context()
			m := ln.Options().Base
			a, format, err := peft.Import(args[0], m.Model)
			if err != nil {
				return fmt.Errorf("%w; nothing deployed", err)
			}
			in := fastslow.Adoption{Task: task, Adapter: a, Budget: l.Budget,
				Note: fmt.Sprintf("imported %s adapter %s", format, absPath(args[0]))}
			if len(keep) > 0 {
				in.Retention = fastslow.EngineScore(m, keep, ln.Options().MaxNewTokens)
			}
			if len(valEx) > 0 {
				in.Validation = func(ctx context.Context, vm *weights.Model, a *llama.Adapter) (float64, error) {
					return ln.EngineAccuracyOn(ctx, task, valEx, vm, a)
				}
			}
			r, err := ln.Slow().Adopt(ctx, in)
			if err != nil {
				return err
			}
			out := AdapterImport{Path: args[0], Format: string(format), Promoted: r.Promoted, Version: r.Version.Seq,
				Model: r.Version.Handle, RetentionBefore: r.Version.Before, RetentionAfter: r.Version.After, Reason: r.Reason}
			w := cmd.OutOrStdout()
			if asJSON {
				if err := json.NewEncoder(w).Encode(out); err != nil {
					return err
				}
			} else if r.Promoted {
				fmt.Fprintf(w, "imported %s adapter (rank %d, scale %g, %v) as version %d, served as %s; retention %.3f → %.3f\n",
					format, a.Config.Rank, a.Scale(), a.Config.Targets, r.Version.Seq, r.Version.Handle, r.Version.Before, r.Version.After)
			}
			if !r.Promoted {
				return fmt.Errorf("%w: %s; nothing deployed", errNotAdopted, r.Reason)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&task, "task", "imported", "task the adapter was trained for (names its validation prompt)")
	f.StringVar(&val, "val", "", "the task's validation examples, JSONL (the gate)")
	f.StringVar(&retention, "retention", "", "examples the model must keep answering, JSONL (the forgetting budget)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	for _, k := range []string{"model", "policy", "budget"} {
		config.AddFlag(f, k)
	}
	return cmd
}

// readExampleFiles reads JSONL files of examples for task, one set per path in order; an empty path gives
// an empty set.
func readExampleFiles(task string, paths ...string) ([][]fastslow.Example, error) {
	sets := make([][]fastslow.Example, len(paths))
	for i, path := range paths {
		if path == "" {
			continue
		}
		ex, err := readExamples(path)
		if err != nil {
			return nil, err
		}
		sets[i] = make([]fastslow.Example, len(ex))
		for j, e := range ex {
			sets[i][j] = fastslow.Example{Prompt: e.Prompt, Completion: e.Completion, Answer: e.Answer, Task: task}
		}
	}
	return sets, nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func newAdaptersExportCmd() *cobra.Command {
	var (
		out, adapter, hfBase string
		version              int
		asJSON               bool
	)
	cmd := &cobra.Command{
		Use:   "export --out DIR [--version N | --adapter FILE.gguf] [--hf-base ID]",
		Short: "Write the learner's adapter (or a GGUF LoRA) as a PEFT LoRA directory",
		Long: `Export writes an adapter as Hugging Face PEFT files (adapter_config.json, adapter_model.safetensors in F32) that
PeftModel.from_pretrained loads onto the Hugging Face form of the base model: the learner's current adapter version
by default, another with --version, or any GGUF LoRA of the base with --adapter. Tensor names, the llama q/k row
order and the scale (lora_alpha/r) are converted; 'fastslow adapters import' of the result gives back the same
bits. --hf-base is written as base_model_name_or_path (default: the GGUF's general.name).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usagef("--out is required")
			}
			l, err := conf(cmd)
			if err != nil {
				return err
			}
			var (
				m   *weights.Model
				a   *llama.Adapter
				seq int
			)
			if adapter != "" {
				path, _, err := labModel(cmd.Context(), l)
				if err != nil {
					return err
				}
				if m, err = weights.Load(path); err != nil {
					return err
				}
				if a, err = weights.LoadAdapter(adapter, m.Model); err != nil {
					return err
				}
			} else {
				ln, err := openLearner(cmd, l)
				if err != nil {
					return err
				}
				defer ln.Close()
				m, seq = ln.Options().Base, version
				if seq == 0 {
					v, ok := ln.Slow().Current()
					if !ok {
						return errors.New("adapters export: the learner serves no adapter (train one with 'fastslow learn', or pass --adapter)")
					}
					seq = v.Seq
				}
				if a, err = ln.Slow().VersionAdapter(seq); err != nil {
					return err
				}
			}
			if hfBase == "" {
				hfBase = m.Name
			}
			if err := peft.Save(out, a, m.Model, peft.SaveOptions{BaseModel: hfBase}); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(w).Encode(map[string]any{"out": out, "version": seq, "rank": a.Config.Rank, "targets": a.Config.Targets})
			}
			fmt.Fprintf(w, "wrote PEFT adapter (rank %d, %v) to %s\n", a.Config.Rank, a.Config.Targets, out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "directory to write")
	f.IntVar(&version, "version", 0, "adapter version of the learner (default: the current one)")
	f.StringVar(&adapter, "adapter", "", "a GGUF LoRA of the base to export instead of the learner's")
	f.StringVar(&hfBase, "hf-base", "", "Hugging Face id of the base model, for base_model_name_or_path")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	for _, k := range []string{"model", "policy"} {
		config.AddFlag(f, k)
	}
	return cmd
}
