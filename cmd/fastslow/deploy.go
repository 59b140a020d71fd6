package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/internal/config"
	"github.com/fastslow/fastslow/weights"
)

func newDeployCmd() *cobra.Command {
	var (
		adapter, name, mergedOut string
		asJSON, force            bool
	)
	cmd := &cobra.Command{
		Use:   "deploy [--base MODEL] --adapter ADAPTER.gguf [--name NAME] [--deploy auto|adapter|merged]",
		Short: "Create an Ollama model from a base model and a LoRA adapter",
		Long: `Deploy creates an Ollama model that answers as the base model plus what the LoRA adapter learned. The
adapter is checked against the base before anything is uploaded.

A base given as a GGUF file is uploaded once (named after its content); an Ollama model name is used as it
is, so the new model keeps its template, system prompt and parameters.

--deploy adapter creates FROM base + ADAPTER: small, but only Ollama's llama.cpp runner applies adapters
(llama, qwen2, gemma2, ...). --deploy merged folds the adapter into the base's tensors (each re-encoded in
its own type, or as --merged-type f16/f32), writes the whole model to --merged-out, checks it by reading it
back and creates it with the base's settings: it runs on every Ollama version and engine (qwen3, gemma3,
...). --deploy auto (the default) picks the adapter where Ollama applies it and merged elsewhere.

Every model fastslow creates carries a license line naming it ("Created by fastslow as NAME"). Deploy
refuses to replace a model of that name without it — one you made yourself — unless --force.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := conf(cmd)
			if err != nil {
				return err
			}
			if adapter == "" {
				return usagef("--adapter is required")
			}
			mode, err := fastslow.ParseDeployMode(l.Deploy)
			if err != nil {
				return usagef("%v", err)
			}
			mt, err := weights.ParseMergedType(l.MergedType)
			if err != nil {
				return usagef("%v", err)
			}
			c, err := client(l)
			if err != nil {
				return err
			}
			if force {
				c = c.ReplacingForeign()
			}
			ctx := cmd.Context()
			if err := c.Ping(ctx); err != nil {
				return err
			}
			base := l.Model
			if base == "" { // the embedded default
				if base, _, err = labModel(ctx, l); err != nil {
					return err
				}
			}
			ref, err := fastslow.ResolveModel(ctx, c, base)
			if err != nil {
				return err
			}
			m, err := weights.Load(ref.Path)
			if err != nil {
				return err
			}
			if _, err := weights.LoadAdapter(adapter, m.Model); err != nil {
				return err
			}
			stem := strings.TrimSuffix(adapter, filepath.Ext(adapter))
			if name == "" {
				name = fastslow.ModelPrefix + filepath.Base(stem)
			}
			if mergedOut == "" {
				mergedOut = stem + ".merged.gguf"
			}
			from, err := fastslow.DeployBase(ctx, c, ref)
			if err != nil {
				return err
			}
			d, err := fastslow.DeployToOllama(ctx, c, m, ref.Path, from, name, adapter, mergedOut,
				fastslow.DeployOptions{Mode: mode, MergedType: mt, Keep: l.Keep})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(w).Encode(struct {
					fastslow.Deployment
					Base string `json:"base"`
					Host string `json:"host"`
				}{d, from, c.Host()})
			}
			fmt.Fprintf(w, "created %s (base %s, %s deploy) on %s\n", name, from, d.Mode, c.Host())
			if d.Reason != "" {
				fmt.Fprintf(w, "  %s\n", d.Reason)
			}
			if d.Mode == fastslow.DeployMerged {
				fmt.Fprintf(w, "  merged model %s (%s), %.1f%% of the update kept after encoding\n",
					d.MergedPath, humanBytes(d.MergedBytes), 100*d.Retained)
			}
			return nil
		},
	}
	f := cmd.Flags()
	config.AddFlagAs(f, "base", "model", "base model: a GGUF file or an Ollama model name")
	f.StringVar(&adapter, "adapter", "", "LoRA adapter GGUF file")
	f.StringVar(&name, "name", "", "name of the new model (default fastslow-<adapter file name>)")
	config.AddFlag(f, "deploy")
	config.AddFlag(f, "merged_type")
	f.StringVar(&mergedOut, "merged-out", "", "where a merged deploy writes the merged GGUF (default <adapter>.merged.gguf)")
	f.BoolVar(&force, "force", false, "replace a model of that name that fastslow did not make")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
