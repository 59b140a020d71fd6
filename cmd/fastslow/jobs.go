package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/internal/atomicfile"
	"github.com/fastslow/fastslow/internal/config"
	"github.com/fastslow/fastslow/weights/peft"
)

func newJobsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "Hand training jobs too big for this machine to a GPU cluster (PEFT under torchrun or Ray Train)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newJobsExportCmd())
	return cmd
}

// Job is job.json, the description 'fastslow jobs export' writes beside the data.
type Job struct {
	Task   string `json:"task"`
	Format string `json:"format"` // "prompt-completion" or "messages"
	Base   struct {
		Name         string `json:"name"`
		GGUF         string `json:"gguf"`
		Architecture string `json:"architecture"`
		HFBase       string `json:"hf_base,omitempty"`
		ChatTemplate string `json:"chat_template,omitempty"`
	} `json:"base"`
	Train      string   `json:"train"`
	Validation string   `json:"validation"`
	Retention  string   `json:"retention,omitempty"`
	LoraConfig string   `json:"lora_config"`
	Training   Training `json:"training"`
	// Import is the command that brings the trained adapter back, scored by the budget and the gate.
	Import string `json:"import"`
}

// Training holds the optimizer settings of the job, from the configuration.
type Training struct {
	Steps        int     `json:"max_steps"`
	LearningRate float64 `json:"learning_rate"`
	BatchSize    int     `json:"per_device_train_batch_size"`
	Seed         uint64  `json:"seed"`
}

// loraConfig is the keyword arguments of peft.LoraConfig.
type loraConfig struct {
	R             int      `json:"r"`
	LoraAlpha     float64  `json:"lora_alpha"`
	LoraDropout   float64  `json:"lora_dropout"`
	TargetModules []string `json:"target_modules"`
	Bias          string   `json:"bias"`
	TaskType      string   `json:"task_type"`
	UseRSLoRA     bool     `json:"use_rslora"`
}

func newJobsExportCmd() *cobra.Command {
	var (
		task, data, retention, out, format, hfBase string
		seed                                       uint64
	)
	cmd := &cobra.Command{
		Use:   "export --task NAME --data FILE.jsonl --out DIR [--retention KEEP.jsonl] [--format prompt-completion|messages]",
		Short: "Write a LoRA training job: the data in Hugging Face SFT formats, a PEFT LoraConfig and the retention set",
		Long: `Export writes, for training elsewhere (PEFT with TRL under torchrun, Ray Train, ...; see docs/gpu-training.md):

  train.jsonl, val.jsonl  the examples (every fifth for validation, as 'fastslow learn' splits them) in TRL's
                          prompt-completion format ({"prompt","completion"}) or its conversational format
                          ({"messages":[user, assistant]}), the prompt rendered as the learner serves the task
                          (its promoted prompt, with notes and demos)
  retention.jsonl         the retention set (--retention), for the forgetting budget when the adapter comes back
  lora_config.json        the LoRA settings of the configuration as peft.LoraConfig keyword arguments
  job.json                the base model, the optimizer settings and the command that brings the result back:
                          'fastslow adapters import', scored by the budget and the gate.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if task == "" || data == "" || out == "" {
				return usagef("--task, --data and --out are required")
			}
			if format != "prompt-completion" && format != "messages" {
				return usagef("--format must be prompt-completion or messages, not %q", format)
			}
			l, err := conf(cmd)
			if err != nil {
				return err
			}
			sets, err := readExampleFiles(task, data, retention)
			if err != nil {
				return err
			}
			ex, keep := sets[0], sets[1]
			lc, err := loraSettings(l)
			if err != nil {
				return err
			}
			ln, err := openLearner(cmd, l)
			if err != nil {
				return err
			}
			defer ln.Close()
			m := ln.Options().Base
			trainSet, val, _ := split(ex)
			render := func(ex []fastslow.Example) ([]any, error) {
				rows := make([]any, len(ex))
				for i, e := range ex {
					p, err := ln.Prompt(cmd.Context(), task, e.Prompt)
					if err != nil {
						return nil, err
					}
					rows[i] = sftRow(format, p, e.Completion)
				}
				return rows, nil
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			job := Job{Task: task, Format: format, Train: "train.jsonl", Validation: "val.jsonl", LoraConfig: "lora_config.json",
				Training: Training{Steps: l.Steps, LearningRate: l.LR, BatchSize: l.Batch, Seed: seed}}
			job.Base.Name, job.Base.Architecture = m.Name, m.Config.Architecture()
			job.Base.HFBase, job.Base.ChatTemplate = hfBase, m.ChatTemplate
			if path, _, err := labModel(cmd.Context(), l); err == nil {
				job.Base.GGUF = absPath(path)
			}
			files := map[string][]any{}
			if files["train.jsonl"], err = render(trainSet); err != nil {
				return err
			}
			if files["val.jsonl"], err = render(val); err != nil {
				return err
			}
			imp := fmt.Sprintf("fastslow adapters import %s --task %s --val %s", filepath.Join(out, "adapter"), task,
				filepath.Join(out, "val-fastslow.jsonl"))
			files["val-fastslow.jsonl"] = examplesRows(val)
			if len(keep) > 0 {
				job.Retention = "retention.jsonl"
				files["retention.jsonl"] = examplesRows(keep)
				imp += " --retention " + filepath.Join(out, "retention.jsonl")
			}
			job.Import = imp
			for name, rows := range files {
				if err := writeRows(filepath.Join(out, name), rows); err != nil {
					return err
				}
			}
			for name, v := range map[string]any{"lora_config.json": lc, "job.json": job} {
				if err := writeJSONFile(filepath.Join(out, name), v); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote job %s to %s: %d training, %d validation, %d retention examples (%s); bring the adapter back with\n  %s\n",
				task, out, len(trainSet), len(val), len(keep), format, imp)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&task, "task", "", "task name")
	f.StringVar(&data, "data", "", "examples, JSONL ({\"prompt\",\"completion\"[,\"answer\"]})")
	f.StringVar(&retention, "retention", "", "examples the model must keep answering, JSONL")
	f.StringVar(&out, "out", "", "directory to write")
	f.StringVar(&format, "format", "prompt-completion", "SFT format: prompt-completion or messages")
	f.StringVar(&hfBase, "hf-base", "", "Hugging Face id of the base model to train (recorded in job.json)")
	f.Uint64Var(&seed, "seed", 1, "training seed recorded in job.json")
	for _, k := range []string{"model", "policy", "steps", "lr", "batch", "rank", "alpha", "targets"} {
		config.AddFlag(f, k)
	}
	return cmd
}

// sftRow is one example in TRL's prompt-completion or conversational format.
func sftRow(format, prompt, completion string) any {
	if format == "messages" {
		return map[string]any{"messages": []map[string]string{
			{"role": "user", "content": prompt}, {"role": "assistant", "content": strings.TrimSpace(completion)},
		}}
	}
	return map[string]string{"prompt": prompt, "completion": completion}
}

// examplesRows are examples in fastslow's own JSONL form, which 'adapters import' reads.
func examplesRows(ex []fastslow.Example) []any {
	rows := make([]any, len(ex))
	for i, e := range ex {
		rows[i] = struct {
			Prompt     string `json:"prompt"`
			Completion string `json:"completion"`
			Answer     string `json:"answer,omitempty"`
		}{e.Prompt, e.Completion, e.Answer}
	}
	return rows
}

// loraSettings turns the configured LoRA shape into peft.LoraConfig arguments: PEFT module names, and
// lora_alpha = r when the configured alpha is 0 (a scale of 1, llama.cpp's convention).
func loraSettings(l *config.Loaded) (loraConfig, error) {
	lc := loraConfig{R: l.Rank, LoraAlpha: l.Alpha, Bias: "none", TaskType: "CAUSAL_LM"}
	if lc.LoraAlpha == 0 {
		lc.LoraAlpha = float64(l.Rank)
	}
	for _, t := range l.Targets {
		if i := slices.Index(peft.GGUFNames, t); i >= 0 {
			t = peft.Modules[i]
		}
		if !slices.Contains(peft.Modules, t) {
			return lc, fmt.Errorf("jobs export: target %q has no PEFT module name", t)
		}
		if !slices.Contains(lc.TargetModules, t) {
			lc.TargetModules = append(lc.TargetModules, t)
		}
	}
	return lc, nil
}

func writeRows(path string, rows []any) error {
	return atomicfile.WriteFile(path, 0o644, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	})
}

func writeJSONFile(path string, v any) error {
	return atomicfile.WriteFile(path, 0o644, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	})
}
