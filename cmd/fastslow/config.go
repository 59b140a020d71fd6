package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/eval/world"
	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/internal/config"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/llama"
)

// The owners of the settings' defaults: the Ollama client for host and num_ctx, the learner for the rest.
func init() {
	d, dd := fastslow.DefaultOptions(), fastslow.DefaultDeployOptions()
	config.SetDefaults(config.Owned{
		Defaults: config.Config{
			Host: ollama.DefaultHost, NumCtx: ollama.DefaultNumCtx, Policy: d.Policy.Name(),
			Rank: d.Slow.LoRA.Rank, Alpha: float64(d.Slow.LoRA.Alpha), Targets: d.Slow.LoRA.Targets,
			Steps: d.Slow.Steps, LR: d.Slow.LR, Batch: d.Slow.BatchSize, Budget: d.Budget,
			Deploy: string(dd.Mode), MergedType: string(dd.MergedType), Keep: dd.Keep,
			Timeout: ollama.DefaultTimeout.String(), MaxLine: world.DefaultMaxLine,
		},
		Policies:    fastslow.PolicyNames(),
		DeployModes: fastslow.DeployModes(),
		MergedTypes: weights.MergedTypes(),
		CheckHost: func(h string) error {
			if _, err := ollama.New(h, ollama.Options{}); err != nil {
				return errors.New(strings.TrimPrefix(err.Error(), fmt.Sprintf("ollama: host %q: ", h)))
			}
			return nil
		},
		CheckTargets: func(ts []string) error {
			if err := (llama.LoRAConfig{Rank: 1, Targets: ts}).Validate(); err != nil {
				return errors.New(strings.TrimPrefix(err.Error(), "llama: "))
			}
			return nil
		},
	})
}

// configKey stores the loaded configuration in a command's context.
type configKey struct{}

// conf returns the command's configuration: defaults, file, environment and the flags given to cmd,
// loaded once per run.
func conf(cmd *cobra.Command) (*config.Loaded, error) {
	if l, ok := cmd.Context().Value(configKey{}).(*config.Loaded); ok {
		return l, nil
	}
	file, _ := cmd.Flags().GetString("config")
	if file == "" {
		file = os.Getenv("FASTSLOW_CONFIG")
	}
	l, err := config.Load(config.Options{File: file, Flags: cmd.Flags()})
	if err != nil {
		return nil, err
	}
	cmd.SetContext(context.WithValue(cmd.Context(), configKey{}, l))
	maxLine = l.MaxLine
	return l, nil
}

// client returns a client for the configured Ollama server.
func client(l *config.Loaded) (*ollama.Client, error) {
	o := ollama.Options{NumThread: l.NumThread, NumCtx: l.NumCtx}
	if d, err := time.ParseDuration(l.Timeout); err == nil && d > 0 { // checked when loaded
		o.Timeout, o.UploadTimeout = d, max(6*d, ollama.DefaultUploadTimeout)
	}
	return ollama.New(l.Host, o)
}

// modelPath returns the GGUF file of the configured model (fastslow.ResolveModel): the model itself when it
// names a file, else the file behind the Ollama model of that name. It returns "" when no model is configured.
func modelPath(ctx context.Context, l *config.Loaded) (string, error) {
	m := l.Model
	if m == "" || fastslow.IsPath(m) {
		return m, nil // a missing file is reported by whatever opens it, with its path
	}
	c, err := client(l)
	if err != nil {
		return "", err
	}
	// Asked first so that a server that is down is reported as such, not as a model that is missing.
	if err := c.Ping(ctx); err != nil {
		return "", fmt.Errorf("model %q is not a file here, so it was looked up in Ollama: %w", m, err)
	}
	ref, err := fastslow.ResolveModel(ctx, c, m)
	return ref.Path, err
}

func newConfigCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "config [--json] [--KEY VALUE ...]",
		Short: "Print the effective configuration and where each value came from",
		Long: `Print every setting's effective value and its source: default, file:PATH, env:VARIABLE or flag:--NAME.
Flags for every key are accepted, to see what a command given them would use.

Settings (file key, environment variable, meaning):
` + settingsHelp(),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := conf(cmd)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				type entry struct {
					Value  any           `json:"value"`
					Source config.Source `json:"source"`
				}
				out := struct {
					File     string           `json:"file"`
					Searched []string         `json:"searched,omitempty"`
					Settings map[string]entry `json:"settings"`
				}{File: l.File, Searched: l.Searched, Settings: map[string]entry{}}
				for _, v := range l.Values {
					out.Settings[v.Key] = entry{v.Value, v.Source}
				}
				return writeJSON(w, out)
			}
			if l.File != "" {
				fmt.Fprintf(w, "config file: %s\n", l.File)
			} else {
				fmt.Fprintf(w, "config file: none (looked for %s)\n", strings.Join(l.Searched, ", "))
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tVALUE\tSOURCE")
			for _, v := range l.Values {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", v.Key, showValue(v), v.Source)
			}
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	for _, k := range config.Keys() {
		if k != "home" && k != "host" { // global flags
			config.AddFlag(f, k)
		}
	}
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func showValue(v config.Value) string {
	switch x := v.Value.(type) {
	case []string:
		return strings.Join(x, ",")
	case string:
		if x == "" && v.Key == "model" {
			return "(embedded default)"
		}
		return x
	}
	return fmt.Sprint(v.Value)
}

// settingsHelp lists the settings for the help text.
func settingsHelp() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for _, s := range config.Settings() {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.Key, s.Env(), s.Doc)
	}
	tw.Flush()
	return strings.TrimRight(b.String(), "\n")
}
