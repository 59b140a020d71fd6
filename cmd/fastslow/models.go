package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
	// Mode is how the model serves what was learned: "adapter" (base + LoRA adapter), "merged" (a whole
	// model with the adapter folded in) or "base" (a base model fastslow uploaded).
	Mode string `json:"mode"`
}

// modelMode tells a base fastslow uploaded, an adapted model and a merged one apart.
func modelMode(ctx context.Context, c *ollama.Client, name string) (string, error) {
	st, err := c.Settings(ctx, name)
	switch {
	case err != nil:
		return "", err
	case st.Adapter:
		return string(fastslow.DeployAdapter), nil
	case strings.HasPrefix(name, fastslow.ModelPrefix+"base-"):
		return "base", nil
	}
	return string(fastslow.DeployMerged), nil
}

// diskUse adds up the files of the models in the server's store, each file once: adapted models share
// their base's weights, merged ones do not. ok is false when the store is not on this machine.
func diskUse(c *ollama.Client, ms []ollama.Model) (total int64, ok bool) {
	seen := map[string]bool{}
	for _, m := range ms {
		blobs, err := c.Blobs(m.Name)
		if err != nil {
			return 0, false
		}
		for _, b := range blobs {
			if !seen[b.Digest] {
				seen[b.Digest] = true
				total += b.Size
			}
		}
	}
	return total, true
}

// homeDiskUse adds up the version files the learners under home keep: their adapters and their merged
// models (whole copies of the model, of which each learner keeps the newest `keep`).
func homeDiskUse(home string) (adapters, merged int64) {
	for pattern, sum := range map[string]*int64{"adapter-*.gguf": &adapters, "merged-*.gguf": &merged} {
		files, _ := filepath.Glob(filepath.Join(home, "learner-*", "adapters", pattern))
		for _, f := range files {
			if st, err := os.Stat(f); err == nil {
				*sum += st.Size()
			}
		}
	}
	return adapters, merged
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
			l, err := conf(cmd)
			if err != nil {
				return err
			}
			homeAdapters, homeMerged := homeDiskUse(l.Home)
			ms, err := c.ListPrefix(cmd.Context(), fastslow.ModelPrefix)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			modes := make([]string, len(ms))
			for i, m := range ms {
				if modes[i], err = modelMode(cmd.Context(), c, m.Name); err != nil {
					return err
				}
			}
			disk, known := diskUse(c, ms)
			if asJSON {
				out := struct {
					Host   string      `json:"host"`
					Models []modelInfo `json:"models"`
					// DiskBytes is the size of the models' files in the server's store, each file once
					// (absent when the store is not on this machine).
					DiskBytes *int64 `json:"disk_bytes,omitempty"`
					// HomeAdapterBytes and HomeMergedBytes are the version files the learners under the home
					// directory keep: adapters, and merged models.
					HomeAdapterBytes int64 `json:"home_adapter_bytes"`
					HomeMergedBytes  int64 `json:"home_merged_bytes"`
				}{Host: c.Host(), Models: []modelInfo{}, HomeAdapterBytes: homeAdapters, HomeMergedBytes: homeMerged}
				for i, m := range ms {
					out.Models = append(out.Models, modelInfo{m.Name, m.Digest, m.Size, m.ModifiedAt.UTC(), m.Family, m.ParameterSize, m.QuantizationLevel, modes[i]})
				}
				if known {
					out.DiskBytes = &disk
				}
				return writeJSON(w, out)
			}
			homeLine := func() {
				if homeAdapters+homeMerged > 0 {
					fmt.Fprintf(w, "disk: %s of adapters and %s of merged models kept by the learners in %s\n",
						humanBytes(homeAdapters), humanBytes(homeMerged), l.Home)
				}
			}
			if len(ms) == 0 {
				fmt.Fprintf(w, "no %s models on %s\n", fastslow.ModelPrefix, c.Host())
				homeLine()
				return nil
			}
			tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "NAME\tID\tMODE\tSIZE\tMODIFIED")
			now := time.Now()
			for i, m := range ms {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Name, shortDigest(m.Digest), modes[i], humanBytes(m.Size), ago(now, m.ModifiedAt))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if known {
				fmt.Fprintf(w, "disk: %s in Ollama's store (files shared by several models counted once; each merged model is a whole copy)\n", humanBytes(disk))
			}
			homeLine()
			return nil
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
