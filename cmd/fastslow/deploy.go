package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/weights"
)

// ModelPrefix starts the name of every model fastslow creates in Ollama.
const ModelPrefix = "fastslow-"

func newDeployCmd() *cobra.Command {
	var (
		base, adapter, name, host string
		asJSON                    bool
	)
	cmd := &cobra.Command{
		Use:   "deploy --base MODEL.gguf --adapter ADAPTER.gguf [--name NAME]",
		Short: "Create an Ollama model from a base GGUF and a LoRA adapter",
		Long: `Deploy uploads the base model (once; it is named after its content) and the adapter to Ollama and creates
the adapted model (FROM base + ADAPTER). The adapter is checked against the base before anything is uploaded.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if base == "" || adapter == "" {
				return usagef("--base and --adapter are required")
			}
			m, err := weights.Load(base)
			if err != nil {
				return err
			}
			if _, err := weights.LoadAdapter(adapter, m.Model); err != nil {
				return err
			}
			if name == "" {
				name = ModelPrefix + strings.TrimSuffix(filepath.Base(adapter), filepath.Ext(adapter))
			}
			c, err := client(host)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if err := c.Ping(ctx); err != nil {
				return err
			}
			baseName, err := deployBase(cmd, c, base)
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
	f.StringVar(&base, "base", "", "base model GGUF file")
	f.StringVar(&adapter, "adapter", "", "LoRA adapter GGUF file")
	f.StringVar(&name, "name", "", "name of the adapted model (default fastslow-<adapter file name>)")
	f.StringVar(&host, "host", "", "Ollama address (default $OLLAMA_HOST or 127.0.0.1:11434)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func client(host string) (*ollama.Client, error) {
	if host == "" {
		return ollama.FromEnv(ollama.Options{})
	}
	return ollama.New(host, ollama.Options{})
}

// deployBase creates the base model in Ollama under a name derived from the file's content, unless a model of
// that name exists already, and returns the name.
func deployBase(cmd *cobra.Command, c *ollama.Client, path string) (string, error) {
	sum, err := fileDigest(path)
	if err != nil {
		return "", err
	}
	name := ModelPrefix + "base-" + sum[:12]
	models, err := c.ListPrefix(cmd.Context(), name)
	if err != nil {
		return "", err
	}
	for _, m := range models {
		if m.Name == name || strings.TrimSuffix(m.Name, ":latest") == name {
			return name, nil
		}
	}
	if err := c.CreateFromGGUF(cmd.Context(), name, path, ollama.CreateOptions{}); err != nil {
		return "", err
	}
	return name, nil
}

func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
