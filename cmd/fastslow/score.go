package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fastslow/fastslow/internal/config"
	"github.com/fastslow/fastslow/internal/progress"
	"github.com/fastslow/fastslow/weights/llama"
)

// Score is the summary `fastslow score` prints.
type Score struct {
	Examples      int     `json:"examples"`
	MeanLogLik    float64 `json:"mean_log_likelihood"` // per completion token, natural log
	Tokens        int     `json:"tokens"`
	ExactMatch    float64 `json:"exact_match"` // share of examples whose greedy answer equals the expected text
	ExactMatches  int     `json:"exact_matches"`
	MaxNewTokens  int     `json:"max_new_tokens"`
	FirstMismatch string  `json:"first_mismatch,omitempty"`
}

func newScoreCmd() *cobra.Command {
	var (
		adapter, data string
		asJSON, quiet bool
	)
	cmd := &cobra.Command{
		Use:   "score [--model MODEL] [--adapter ADAPTER.gguf] --data EXAMPLES.jsonl",
		Short: "Mean log-likelihood and exact match of a model over examples",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ex, err := readExamples(data)
			if err != nil {
				return err
			}
			m, a, err := loadModel(cmd, adapter)
			if err != nil {
				return err
			}
			if ex, err = renderChatFor(cmd, data, ex); err != nil {
				return err
			}
			var s Score
			var sum float64
			meter := progress.New(cmd.ErrOrStderr(), len(ex), progress.Options{Label: "score", Unit: "examples", Mode: progressMode(quiet || asJSON)})
			defer meter.Finish()
			for i, e := range ex {
				if err := cmd.Context().Err(); err != nil {
					return err
				}
				prompt := m.Tokenizer.Encode(e.Prompt, true)
				completion := append(m.Tokenizer.Encode(e.Completion, false), m.Tokenizer.EOS())
				ll, n, err := m.LogLikelihood(prompt, completion, a)
				if err != nil {
					return fmt.Errorf("%s: example %d: %w", data, i+1, err)
				}
				sum += ll
				s.Tokens += n
				budget := len(completion) + 8
				budget = min(budget, m.Config.ContextLength-len(prompt))
				s.MaxNewTokens = max(s.MaxNewTokens, budget)
				out, err := m.Generate(cmd.Context(), prompt, budget, llama.Sampler{}, a)
				if err != nil {
					return fmt.Errorf("%s: example %d: %w", data, i+1, err)
				}
				got := strings.TrimSpace(m.Tokenizer.Decode(out))
				if got == expected(e) {
					s.ExactMatches++
				} else if s.FirstMismatch == "" {
					s.FirstMismatch = fmt.Sprintf("example %d: got %q, want %q", i+1, got, expected(e))
				}
				meter.Update(i+1, fmt.Sprintf("exact %d/%d", s.ExactMatches, i+1))
			}
			meter.Finish()
			s.Examples = len(ex)
			s.MeanLogLik = sum / float64(max(s.Tokens, 1))
			s.ExactMatch = float64(s.ExactMatches) / float64(len(ex))
			w := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(w).Encode(s)
			}
			fmt.Fprintf(w, "%d examples: mean log-likelihood %.4f per token (%d tokens), exact match %.1f%% (%d/%d)\n",
				s.Examples, s.MeanLogLik, s.Tokens, 100*s.ExactMatch, s.ExactMatches, s.Examples)
			return nil
		},
	}
	f := cmd.Flags()
	config.AddFlagAs(f, "model", "model", "model: a GGUF file or an Ollama model name")
	f.StringVar(&adapter, "adapter", "", "LoRA adapter GGUF file")
	f.StringVar(&data, "data", "", "examples, JSONL of {\"prompt\",\"completion\"[,\"answer\"]}")
	f.BoolVar(&asJSON, "json", false, "print JSON and no progress")
	f.BoolVar(&quiet, "quiet", false, "print only the summary, no progress")
	return cmd
}
