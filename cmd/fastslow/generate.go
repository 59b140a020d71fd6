package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/fastslow/fastslow/internal/config"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/llama"
)

// loadModel loads the configured model and, if adapterPath is set, an adapter checked against it.
func loadModel(cmd *cobra.Command, adapterPath string) (*weights.Model, *llama.Adapter, error) {
	l, err := conf(cmd)
	if err != nil {
		return nil, nil, err
	}
	base, _, err := labModel(cmd.Context(), l) // the embedded default when no model is configured
	if err != nil {
		return nil, nil, err
	}
	m, err := weights.Load(base)
	if err != nil {
		return nil, nil, err
	}
	if adapterPath == "" {
		return m, nil, nil
	}
	a, err := weights.LoadAdapter(adapterPath, m.Model)
	if err != nil {
		return nil, nil, err
	}
	return m, a, nil
}

func newGenerateCmd() *cobra.Command {
	var (
		adapter, prompt   string
		maxTokens         int
		temperature, topP float32
		seed              uint64
		asJSON            bool
	)
	cmd := &cobra.Command{
		Use:   "generate [--model MODEL] [--adapter ADAPTER.gguf] PROMPT",
		Short: "Continue a prompt with the in-process engine",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				prompt = args[0]
			}
			if prompt == "" {
				return usagef("a prompt is required")
			}
			m, a, err := loadModel(cmd, adapter)
			if err != nil {
				return err
			}
			ids := m.Tokenizer.Encode(prompt, true)
			if n := m.Config.ContextLength - len(ids); maxTokens > n {
				maxTokens = n
			}
			out, err := m.Generate(cmd.Context(), ids, maxTokens, llama.Sampler{Temperature: temperature, TopP: topP, Seed: seed}, a)
			if err != nil {
				return err
			}
			text := m.Tokenizer.Decode(out)
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), struct {
					Prompt string `json:"prompt"`
					Text   string `json:"text"`
					Tokens int    `json:"tokens"`
				}{prompt, text, len(out)})
			}
			fmt.Fprintln(cmd.OutOrStdout(), escapeControl(text))
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print JSON")
	config.AddFlagAs(f, "model", "model", "model: a GGUF file or an Ollama model name")
	f.StringVar(&adapter, "adapter", "", "LoRA adapter GGUF file")
	f.StringVar(&prompt, "prompt", "", "the prompt (or give it as the argument)")
	f.IntVar(&maxTokens, "max-tokens", 64, "most tokens to generate")
	f.Float32Var(&temperature, "temperature", 0, "sampling temperature (0: greedy)")
	f.Float32Var(&topP, "top-p", 1, "nucleus sampling mass")
	f.Uint64Var(&seed, "seed", 1, "sampling seed")
	return cmd
}
