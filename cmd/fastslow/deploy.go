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
		adapter, name string
		asJSON        bool
	)
	cmd := &cobra.Command{
		Use:   "deploy --base MODEL --adapter ADAPTER.gguf [--name NAME]",
		Short: "Create an Ollama model from a base GGUF and a LoRA adapter",
		Long: `Deploy uploads the base model (once; it is named after its content) and the adapter to Ollama and creates
the adapted model (FROM base + ADAPTER). The adapter is checked against the base before anything is uploaded.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := conf(cmd)
			if err != nil {
				return err
			}
			if l.Model == "" || adapter == "" {
				return usagef("--base and --adapter are required")
			}
			base, err := modelPath(cmd.Context(), l)
			if err != nil {
				return err
			}
			m, err := weights.Load(base)
			if err != nil {
				return err
			}
			if _, err := weights.LoadAdapter(adapter, m.Model); err != nil {
				return err
			}
			if name == "" {
				name = fastslow.ModelPrefix + strings.TrimSuffix(filepath.Base(adapter), filepath.Ext(adapter))
			}
			c, err := client(l)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if err := c.Ping(ctx); err != nil {
				return err
			}
			baseName, err := fastslow.EnsureBase(ctx, c, base)
			if err != nil {
				return err
			}
			if err := c.CreateAdapted(ctx, name, baseName, adapter); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(w).Encode(map[string]string{"model": name, "base": baseName, "host": c.Host()})
			}
			fmt.Fprintf(w, "created %s (base %s) on %s\n", name, baseName, c.Host())
			return nil
		},
	}
	f := cmd.Flags()
	config.AddFlagAs(f, "base", "model", "base model: a GGUF file or an Ollama model name")
	f.StringVar(&adapter, "adapter", "", "LoRA adapter GGUF file")
	f.StringVar(&name, "name", "", "name of the adapted model (default fastslow-<adapter file name>)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
