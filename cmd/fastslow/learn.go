package main

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fastslow/fastslow/eval/world"
	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/internal/config"
	"github.com/fastslow/fastslow/prompts"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/llama"
)

// openConfigured reads the configuration and opens the learner it names (openLearner).
func openConfigured(cmd *cobra.Command) (*config.Loaded, *fastslow.Learner, error) {
	l, err := conf(cmd)
	if err != nil {
		return nil, nil, err
	}
	ln, err := openLearner(cmd, l)
	if err != nil {
		return nil, nil, err
	}
	return l, ln, nil
}

// openLearner opens the learner kept in the home directory for the configured model and policy, served by
// Ollama when reachable, else by the in-process engine (said on stderr). adjust, if given, changes the
// options last (serve keeps the background weight rounds that learn turns off).
func openLearner(cmd *cobra.Command, l *config.Loaded, adjust ...func(*fastslow.Options)) (*fastslow.Learner, error) {
	ctx := cmd.Context()
	path, _, err := labModel(ctx, l)
	if err != nil {
		return nil, err
	}
	m, err := weights.Load(path)
	if err != nil {
		return nil, err
	}
	pol, err := fastslow.ParsePolicy(l.Policy)
	if err != nil {
		return nil, err
	}
	var srv fastslow.Server = fastslow.NewEngineServer(m)
	c, err := client(l)
	if err != nil {
		return nil, err
	}
	if err := c.Ping(ctx); err != nil {
		// Not an error: the learner works without Ollama. Said as a note, once, without the error's dress.
		fmt.Fprintf(cmd.ErrOrStderr(), "note: Ollama does not answer at %s, so the in-process engine serves (start Ollama, or set --host, to serve through it)\n", c.Host())
	} else {
		osrv := fastslow.NewOllamaServer(c, path, "")
		if l.Model != "" && !fastslow.IsPath(l.Model) {
			osrv.From = l.Model // adapted FROM the user's model, with its chat template
		}
		srv = osrv
	}
	sum := sha256.Sum256([]byte(path))
	id := hex.EncodeToString(sum[:4])
	opts := fastslow.DefaultOptions()
	opts.Policy, opts.Name, opts.Base, opts.Server = pol, "learner-"+id, m, srv
	opts.StoreDir = filepath.Join(l.Home, "prompts") // where 'fastslow prompts' looks
	opts.Slow.LoRA = llama.LoRAConfig{Rank: l.Rank, Alpha: float32(l.Alpha), Targets: l.Targets}
	opts.Slow.Steps, opts.Slow.Chunk, opts.Slow.LR, opts.Slow.BatchSize, opts.Slow.Seed = l.Steps, max(1, l.Steps/4), l.LR, l.Batch, 1
	opts.Budget = l.Budget
	opts.Flush = fastslow.FlushPolicy{} // the command runs its round itself, before it ends
	mode, err := fastslow.ParseDeployMode(l.Deploy)
	if err != nil {
		return nil, err
	}
	mt, err := weights.ParseMergedType(l.MergedType)
	if err != nil {
		return nil, err
	}
	opts.Deploy = fastslow.DeployOptions{Mode: mode, MergedType: mt, Keep: l.Keep}
	for _, a := range adjust {
		a(&opts)
	}
	return fastslow.NewLearner(ctx, filepath.Join(l.Home, "learner-"+id), opts)
}

// feedbackLine is one line of a feedback JSONL file.
type feedbackLine struct {
	Input    *string  `json:"input"`
	Output   string   `json:"output"`
	Score    *float64 `json:"score"`
	Feedback string   `json:"feedback"`
	Answer   string   `json:"answer"`
	Task     string   `json:"task"`
}

// readFeedback reads {"input","output","score","feedback","answer"} lines; errors name the file and line.
func readFeedback(path, task string) ([]fastslow.Correction, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []fastslow.Correction
	err = world.ReadLines(f, path, maxLine, func(n int, line []byte) error {
		var fl feedbackLine
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&fl); err != nil {
			return fmt.Errorf("%s:%d: invalid feedback JSON: %v", path, n, err)
		}
		if fl.Input == nil || fl.Score == nil {
			return fmt.Errorf("%s:%d: feedback needs \"input\" and \"score\"", path, n)
		}
		t := task
		if fl.Task != "" {
			t = fl.Task
		}
		out = append(out, fastslow.Correction{Task: t, Input: *fl.Input, Output: fl.Output, Score: *fl.Score, Critique: fl.Feedback, Answer: fl.Answer})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no feedback", path)
	}
	return out, nil
}

// isFeedbackFile tells a feedback file from an examples file by its first record's keys.
func isFeedbackFile(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	found, hasInput := errors.New("first record"), false
	err = world.ReadLines(f, path, maxLine, func(_ int, line []byte) error {
		var keys map[string]json.RawMessage
		if json.Unmarshal(line, &keys) != nil {
			return found // the examples reader names the bad line
		}
		_, hasInput = keys["input"]
		return found
	})
	if err != nil && err != found {
		return false, err
	}
	return hasInput, nil
}

// LearnSummary is what `fastslow learn --json` prints.
type LearnSummary struct {
	Task          string  `json:"task"`
	Policy        string  `json:"policy"`
	Examples      int     `json:"examples"`
	Feedback      int     `json:"feedback,omitempty"`
	PromptVersion uint64  `json:"prompt_version,omitempty"`
	PromptScore   float64 `json:"prompt_score"`
	PromptChanged bool    `json:"prompt_promoted"`
	WeightSteps   int     `json:"weight_steps"`
	Adapter       int     `json:"adapter_version,omitempty"`
	Model         string  `json:"model,omitempty"`
	Deploy        string  `json:"deploy,omitempty"` // how the served version is deployed: adapter or merged
	Note          string  `json:"note,omitempty"`
	// Unmeasured says why the round's forgetting budget was not measured ("" when it was).
	Unmeasured string  `json:"forgetting_not_measured,omitempty"`
	Accuracy   float64 `json:"validation_accuracy"`
	// HeldOut is false when the validation examples were also trained on, and NotHeldOut says why.
	HeldOut    bool   `json:"validation_held_out"`
	NotHeldOut string `json:"validation_not_held_out,omitempty"`
}

func newLearnCmd() *cobra.Command {
	var (
		task, data string
		asJSON     bool
	)
	cmd := &cobra.Command{
		Use:   "learn --task NAME --data FILE.jsonl",
		Short: "Teach a task from examples or feedback, under the configured policy",
		Long: `Learn feeds a JSONL file to a task of the learner kept in the fastslow home directory. Lines are either
examples ({"prompt","completion"[,"answer"]}, 80% trained on, 20% used to validate what is promoted; with fewer
than 5 none is held out, and learn says that it validated on a training example) or feedback on served answers
({"input","output","score"[,"feedback","answer"]}): feedback with an answer is learned at once by the prompt
channel and queued for a weight round, which runs before the command ends. A weight round's forgetting budget is
measured on what earlier runs taught and this one does not train on (the prompt store's newest demonstrations, up
to 16, whose inputs are not in this file); when there are none, as in the first run, learn and the adapter history
say it was not measured. The promoted prompt and adapter are what 'fastslow models' lists and 'fastslow rollback'
and 'fastslow prompts rollback' undo.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if task == "" || data == "" {
				return usagef("--task and --data are required")
			}
			if err := prompts.ValidTaskName(task); err != nil {
				return usagef("--task: %v", err)
			}
			l, err := conf(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			fbMode, err := isFeedbackFile(data)
			if err != nil {
				return err
			}
			var ex []fastslow.Example
			var fbs []fastslow.Correction
			if fbMode {
				if fbs, err = readFeedback(data, task); err != nil {
					return err
				}
			} else {
				wex, err := readExamples(data)
				if err != nil {
					return err
				}
				if wex, err = renderChatFor(cmd, data, wex); err != nil {
					return err
				}
				for _, e := range wex {
					ex = append(ex, fastslow.Example{Prompt: e.Prompt, Completion: e.Completion, Answer: e.Answer, Task: task})
				}
			}
			current := map[string]bool{}
			for _, e := range ex {
				current[e.Prompt] = true
			}
			for _, fb := range fbs {
				current[fb.Input] = true
			}
			earlier := earlierExamples(cmd, l, current)
			ln, err := openLearner(cmd, l, func(o *fastslow.Options) { o.Retention = append(o.Retention, earlier...) })
			if err != nil {
				return err
			}
			defer ln.Close()
			sum := LearnSummary{Task: task, Policy: ln.Policy().Name(), Examples: len(ex), Feedback: len(fbs)}
			var round fastslow.Round
			var val []fastslow.Example
			if fbMode {
				for _, fb := range fbs {
					if _, err := ln.Feedback(ctx, fb); err != nil {
						return err
					}
				}
				round, err = ln.Flush(ctx, task)
				for _, fb := range fbs {
					if fb.Answer != "" {
						val = append(val, fastslow.Example{Prompt: fb.Input, Completion: " " + fb.Answer, Answer: fb.Answer})
					}
				}
				sum.NotHeldOut = "the corrected answers, which the round learned"
			} else {
				trainSet, v, heldOut := split(ex)
				val = v
				if !heldOut {
					sum.NotHeldOut = fmt.Sprintf("%d examples are too few to hold one out (5 are needed): validated on a training example", len(ex))
				}
				round, err = ln.Learn(ctx, task, trainSet, val)
			}
			sum.HeldOut = sum.NotHeldOut == ""
			if err != nil {
				return err
			}
			sum.PromptVersion, sum.PromptScore, sum.PromptChanged = round.Prompt.Version.Seq, round.Prompt.Score, round.Prompt.Promoted
			sum.WeightSteps, sum.Note = round.WeightSteps, round.Weights.Reason
			if round.Weights.Promoted {
				sum.Unmeasured = round.Weights.Version.Unmeasured
			}
			if v, ok := ln.Slow().Current(); ok {
				sum.Adapter, sum.Model, sum.Deploy = v.Seq, v.Handle, string(v.Mode)
				if sum.Deploy == "" {
					sum.Deploy = string(fastslow.DeployAdapter)
				}
			}
			if sum.Accuracy, err = ln.Accuracy(ctx, task, val); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(w).Encode(sum)
			}
			fmt.Fprintf(w, "task %s (%s): ", task, sum.Policy)
			if sum.Policy != "weights" {
				fmt.Fprintf(w, "prompt version %d (validation %.2f%s); ", sum.PromptVersion, sum.PromptScore, map[bool]string{true: ", promoted", false: ""}[sum.PromptChanged])
			}
			if sum.Policy != "prompts" {
				fmt.Fprintf(w, "%d weight steps, adapter version %d %s", sum.WeightSteps, sum.Adapter, sum.Model)
				if sum.Deploy != "" {
					fmt.Fprintf(w, " (%s deploy)", sum.Deploy)
				}
				if sum.Note != "" {
					fmt.Fprintf(w, " (%s)", sum.Note)
				}
				if sum.Unmeasured != "" {
					fmt.Fprintf(w, " (forgetting not measured: %s)", sum.Unmeasured)
				}
				fmt.Fprint(w, "; ")
			}
			fmt.Fprintf(w, "served accuracy on validation %.2f", sum.Accuracy)
			if !sum.HeldOut {
				fmt.Fprintf(w, " (not held out: %s)", sum.NotHeldOut)
			}
			fmt.Fprintln(w)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&task, "task", "", "task name ([A-Za-z0-9._-])")
	f.StringVar(&data, "data", "", "examples or feedback, JSONL")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	for _, k := range []string{"model", "policy", "steps", "lr", "batch", "rank", "alpha", "targets", "budget", "deploy", "merged_type", "keep"} {
		if f.Lookup(k) == nil {
			config.AddFlag(f, k)
		}
	}
	return cmd
}

// maxEarlier bounds the retention set taken from the store: each is answered at every forgetting check.
const maxEarlier = 16

// earlierExamples are what earlier learn runs taught, held out from this one: the newest demonstrations of
// every task in the prompt store (from examples and corrections) whose input is not among this run's, asked
// with their raw input. The learner keeps its own retention set only while it is open, so a learn command
// would otherwise have nothing to measure its forgetting budget on. Nothing if the store cannot be read.
func earlierExamples(cmd *cobra.Command, l *config.Loaded, current map[string]bool) []fastslow.Example {
	s, err := prompts.Open(promptsDir(l.Home), &prompts.Options{ReadOnly: true})
	if err != nil {
		return nil
	}
	defer s.Close()
	ctx := cmd.Context()
	tasks, err := s.Tasks(ctx)
	if err != nil {
		return nil
	}
	var demos []prompts.Demo
	for _, t := range tasks {
		ds, err := s.Demos(ctx, t.Name)
		if err != nil {
			return nil
		}
		for _, d := range ds {
			if !current[d.Input] && strings.TrimSpace(d.Output) != "" {
				demos = append(demos, d)
			}
		}
	}
	slices.SortFunc(demos, func(a, b prompts.Demo) int { return cmp.Compare(b.ID, a.ID) }) // newest first
	var out []fastslow.Example
	seen := map[string]bool{}
	for _, d := range demos {
		if len(out) == maxEarlier {
			break
		}
		if seen[d.Input] {
			continue
		}
		seen[d.Input] = true
		out = append(out, fastslow.Example{Prompt: d.Input, Completion: d.Output, Answer: strings.TrimSpace(d.Output), Task: d.Task})
	}
	return out
}

// split keeps every fifth example for validation, the rest for training. With fewer than 5 examples none is
// held out: the validation example is a training example, and heldOut is false.
func split(ex []fastslow.Example) (trainSet, val []fastslow.Example, heldOut bool) {
	if len(ex) < 2 {
		return ex, ex, false
	}
	for i, e := range ex {
		if i%5 == 4 {
			val = append(val, e)
		} else {
			trainSet = append(trainSet, e)
		}
	}
	if len(val) == 0 {
		return trainSet, trainSet[len(trainSet)-1:], false
	}
	return trainSet, val, true
}

func newRollbackCmd() *cobra.Command {
	var (
		to     int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "rollback [--to N]",
		Short: "Serve an earlier adapter version again (default: the one before the current)",
		Long: `Rollback makes an earlier adapter version of the learner the served one again (--to 0 serves the base model
alone). Every version stays on disk and in 'fastslow models'; prompts have their own history ('fastslow prompts
rollback').`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, ln, err := openConfigured(cmd)
			if err != nil {
				return err
			}
			defer ln.Close()
			cur, ok := ln.Slow().Current()
			if !cmd.Flags().Changed("to") {
				if !ok {
					return errors.New("rollback: no adapter version is served; nothing to roll back")
				}
				to = 0
				for _, v := range ln.Slow().Versions() {
					if v.Seq < cur.Seq {
						to = v.Seq
					}
				}
			}
			if err := ln.Slow().Rollback(cmd.Context(), to); err != nil {
				return err
			}
			v, _ := ln.Slow().Current()
			w := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(w).Encode(map[string]any{"from": cur.Seq, "to": to, "model": v.Handle})
			}
			if to == 0 {
				fmt.Fprintf(w, "serving the base model alone (was adapter version %d)\n", cur.Seq)
			} else {
				fmt.Fprintf(w, "serving adapter version %d as %s (was %d)\n", to, v.Handle, cur.Seq)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&to, "to", 0, "version to serve (0: the base model alone)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	config.AddFlag(cmd.Flags(), "model")
	config.AddFlag(cmd.Flags(), "policy")
	return cmd
}
