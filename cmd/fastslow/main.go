// Command fastslow adapts local language models without making them forget: it trains minimal LoRA adapters
// in Go on a model's own GGUF weights, deploys them to Ollama, keeps a versioned store of prompts, and
// measures what each adaptation costs.
//
// # Configuration
//
// Every setting (host, home, model, policy, num_thread, num_ctx, rank, alpha, targets, steps, lr, batch,
// budget, out) comes from, in increasing precedence: its default, the configuration file (--config FILE,
// else ./fastslow.yaml, else $FASTSLOW_HOME/fastslow.yaml), the environment (FASTSLOW_<KEY>) and a flag.
// `fastslow config` prints every effective value and where it came from. Unknown keys and invalid values
// are errors; see package internal/config.
//
// # Output
//
// Results go to standard output, as text or, with --json, as JSON; progress and errors go to standard
// error: a bar on a terminal, plain lines otherwise, nothing with --json.
//
// # Exit codes
//
//	0    success
//	1    failure: a bad data or model file, a failed run, an error reported by Ollama
//	2    usage or configuration error: unknown command, flag or key, invalid value, missing file
//	3    Ollama is not reachable
//	130  interrupted (Ctrl-C or SIGTERM); an interrupted training run resumes from its checkpoint
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/internal/config"
	"github.com/fastslow/fastslow/internal/progress"
)

// Exit codes, stable for scripts.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitUnreachable = 3
	exitInterrupted = 130
)

const rootHelp = `fastslow adapts a local language model to your tasks through two channels: a versioned store of
prompts (fast, reversible) and minimal LoRA adapters trained in Go on the model's own GGUF weights and
served by Ollama (slow, bounded by a forgetting budget).

Configuration: a flag wins over its FASTSLOW_<KEY> environment variable, which wins over the configuration
file (--config FILE, else ./fastslow.yaml, else $FASTSLOW_HOME/fastslow.yaml), which wins over the default.
Run 'fastslow config' to see every setting, its value and where the value came from.

Output: results on standard output (--json for JSON), progress and errors on standard error.

Exit codes:
  0    success
  1    failure: a bad data or model file, a failed run, an error reported by Ollama
  2    usage or configuration error: unknown command, flag or key, invalid value, missing file
  3    Ollama is not reachable
  130  interrupted (Ctrl-C or SIGTERM); an interrupted training run resumes from its checkpoint`

// usageError marks errors in how the command was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "fastslow",
		Short:         "Adapt local language models without making them forget",
		Long:          rootHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(),
		// Every command sees the same configuration, checked before it starts.
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			_, err := conf(cmd)
			return err
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.String("config", "", "configuration file (default ./fastslow.yaml, else $FASTSLOW_HOME/fastslow.yaml) [FASTSLOW_CONFIG]")
	config.AddFlag(pf, "home")
	config.AddFlag(pf, "host")
	root.AddCommand(
		newTrainCmd(), newGenerateCmd(), newScoreCmd(), newDeployCmd(), newPretrainCmd(),
		newModelsCmd(), newPromptsCmd(), newConfigCmd(),
		newLabCmd(), newLearnCmd(), newRollbackCmd(), newAdaptersCmd(), newJobsCmd(), newServeCmd(),
	)
	return root
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return report(os.Stderr, ctx, err)
}

// report prints err, if any, as one line (plus at most one line of advice) and returns the exit code it
// stands for.
func report(w io.Writer, ctx context.Context, err error) int {
	if err == nil {
		return exitOK
	}
	msg := errorLine(err)
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(w, "fastslow: interrupted:", msg)
		return exitInterrupted
	case errors.As(err, new(*config.Error)):
		fmt.Fprintln(w, "fastslow:", msg)
		return exitUsage
	case errors.As(err, new(usageError)) || isCobraUsage(err):
		fmt.Fprintln(w, "fastslow:", msg)
		fmt.Fprintln(w, "Run 'fastslow --help' for usage.")
		return exitUsage
	case errors.Is(err, fs.ErrNotExist): // a missing file: the README counts it as a usage error
		fmt.Fprintln(w, "fastslow:", msg)
		return exitUsage
	case errors.Is(err, ollama.ErrUnreachable):
		fmt.Fprintln(w, "fastslow:", msg)
		fmt.Fprintln(w, "Is Ollama running? Set its address with --host, FASTSLOW_HOST or OLLAMA_HOST.")
		return exitUnreachable
	default:
		fmt.Fprintln(w, "fastslow:", msg)
		return exitFailure
	}
}

// errorLine writes err on one line: cobra's suggestions for a mistyped command go in parentheses, and
// errors joined on several lines are separated by semicolons.
func errorLine(err error) string {
	msg := err.Error()
	if head, suggestions, ok := strings.Cut(msg, "\n\nDid you mean this?\n"); ok {
		msg = head + " (did you mean " + strings.Join(strings.Fields(suggestions), " or ") + "?)"
	}
	var lines []string
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return escapeControl(strings.Join(lines, "; "))
}

// isCobraUsage recognizes cobra's own errors for unknown commands and bad argument counts.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires at least", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// progressMode is the progress display of a command: none when off (--json, --quiet), else a bar on a
// terminal and plain lines elsewhere.
func progressMode(off bool) progress.Mode {
	if off {
		return progress.Off
	}
	return progress.Auto
}

// writeJSON writes v as indented JSON, the form of every --json output that lists records.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
