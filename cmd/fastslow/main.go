// Command fastslow adapts local language models without making them forget: it trains minimal LoRA adapters
// in Go on a model's own GGUF weights, deploys them to Ollama, and measures what each adaptation costs.
//
// Exit codes: 0 success, 1 failure, 2 bad usage (unknown flag, missing argument), 130 interrupted.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes, stable for scripts.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// usageError marks errors in how the command was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "fastslow",
		Short:         "Adapt local language models without making them forget",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newTrainCmd(), newGenerateCmd(), newScoreCmd(), newDeployCmd(), newPretrainCmd())
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
	switch {
	case err == nil:
		return exitOK
	case ctx.Err() != nil:
		fmt.Fprintln(os.Stderr, "fastslow: interrupted:", err)
		return exitInterrupted
	case errors.As(err, new(usageError)) || isCobraUsage(err):
		fmt.Fprintln(os.Stderr, "fastslow:", err)
		fmt.Fprintln(os.Stderr, "Run 'fastslow --help' for usage.")
		return exitUsage
	default:
		fmt.Fprintln(os.Stderr, "fastslow:", err)
		return exitFailure
	}
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
