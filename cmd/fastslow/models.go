package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/fastslow"
)

// modelInfo is one model in `fastslow models --json`.
type modelInfo struct {
	Name              string    `json:"name"`
	Digest            string    `json:"digest"`
	Size              int64     `json:"size"`
	ModifiedAt        time.Time `json:"modified_at"`
	Family            string    `json:"family,omitempty"`
	ParameterSize     string    `json:"parameter_size,omitempty"`
	QuantizationLevel string    `json:"quantization_level,omitempty"`
}

func newModelsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "models [--json]",
		Short: "List the models fastslow made in Ollama",
		Long: `List the models fastslow created in Ollama: every adapted model and the base models they are built on, all
named with the prefix ` + fastslow.ModelPrefix + `. 'fastslow models rm NAME...' deletes some of them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := ollamaClient(cmd)
			if err != nil {
				return err
			}
			ms, err := c.ListPrefix(cmd.Context(), fastslow.ModelPrefix)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				out := struct {
					Host   string      `json:"host"`
					Models []modelInfo `json:"models"`
				}{Host: c.Host(), Models: []modelInfo{}}
				for _, m := range ms {
					out.Models = append(out.Models, modelInfo{m.Name, m.Digest, m.Size, m.ModifiedAt.UTC(), m.Family, m.ParameterSize, m.QuantizationLevel})
				}
				return writeJSON(w, out)
			}
			if len(ms) == 0 {
				fmt.Fprintf(w, "no %s models on %s\n", fastslow.ModelPrefix, c.Host())
				return nil
			}
			tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "NAME\tID\tSIZE\tMODIFIED")
			now := time.Now()
			for _, m := range ms {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.Name, shortDigest(m.Digest), humanBytes(m.Size), ago(now, m.ModifiedAt))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(newModelsRmCmd())
	return cmd
}

func newModelsRmCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "rm NAME...",
		Short: "Delete models fastslow made from Ollama",
		Long: `Delete the named models from Ollama. Only models fastslow made (named ` + fastslow.ModelPrefix + `...) can be
deleted this way; any other name is refused before anything is deleted.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, names []string) error {
			for _, n := range names {
				if !strings.HasPrefix(n, fastslow.ModelPrefix) {
					return usagef("refusing to delete %q: fastslow deletes only the models it made (names starting with %q)", n, fastslow.ModelPrefix)
				}
			}
			c, err := ollamaClient(cmd)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			deleted := []string{}
			for _, n := range names {
				if err := c.Delete(cmd.Context(), n); err != nil {
					if len(deleted) > 0 {
						err = fmt.Errorf("%w (deleted before: %s)", err, strings.Join(deleted, ", "))
					}
					return err
				}
				deleted = append(deleted, n)
				if !asJSON {
					fmt.Fprintf(w, "deleted %s\n", n)
				}
			}
			if asJSON {
				return writeJSON(w, map[string]any{"host": c.Host(), "deleted": deleted})
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// ollamaClient returns a client for the configured server, checked to answer: a server that is down is
// reported once, clearly, rather than as the failure of whatever request came first.
func ollamaClient(cmd *cobra.Command) (*ollama.Client, error) {
	l, err := conf(cmd)
	if err != nil {
		return nil, err
	}
	c, err := client(l)
	if err != nil {
		return nil, err
	}
	if err := c.Ping(cmd.Context()); err != nil {
		return nil, err
	}
	return c, nil
}

// shortDigest is the first 12 hex digits of a digest, as `ollama list` shows it.
func shortDigest(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	return d[:min(len(d), 12)]
}

// humanBytes writes n in decimal units, as Ollama does.
func humanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTP"[exp])
}

// ago writes how long before now t was, coarsely.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case t.IsZero():
		return "unknown"
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute") + " ago"
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour") + " ago"
	case d < 60*24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day") + " ago"
	}
	return t.Format("2006-01-02")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
