package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/internal/atomicfile"
	"github.com/fastslow/fastslow/prompts"
)

// errNoStore means the prompt store has not been created yet: nothing has been learned.
var errNoStore = errors.New("no prompt store yet")

// promptsDir is the prompt store's directory under home.
func promptsDir(home string) string { return filepath.Join(home, "prompts") }

// openStore opens the configured prompt store. Commands that only read pass create=false, so that looking
// does not create an empty store (errNoStore instead).
func openStore(cmd *cobra.Command, create bool) (*prompts.Store, error) {
	l, err := conf(cmd)
	if err != nil {
		return nil, err
	}
	dir := promptsDir(l.Home)
	if !create {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w at %s (set home with --home or FASTSLOW_HOME)", errNoStore, dir)
		}
	}
	s, err := prompts.Open(dir, nil)
	if err != nil {
		return nil, storeError(dir, err)
	}
	return s, nil
}

func newPromptsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "prompts",
		Short: "List, inspect, promote, roll back, export and import versioned prompts",
		Long: `The fast channel's prompt store ($FASTSLOW_HOME/prompts): per task, a population of prompt candidates
(system text, lessons, demos, notes) and the history of the version being served. Promotions pass a gate (a
candidate may not lower the validation score) unless forced; rollbacks restore an earlier version and are
recorded, never rewriting the history.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newPromptsListCmd(), newPromptsShowCmd(), newPromptsPromoteCmd(), newPromptsRollbackCmd(),
		newPromptsExportCmd(), newPromptsImportCmd())
	cmd.AddCommand(newPromptsAdminCmds()...)
	return cmd
}

// taskSummary is one task in `fastslow prompts list --json`.
type taskSummary struct {
	prompts.Task
	Version    uint64 `json:"version,omitempty"`   // current version, 0 if none
	Candidate  uint64 `json:"candidate,omitempty"` // candidate served, 0 if none
	Candidates int    `json:"candidates"`
	Versions   int    `json:"versions"`
}

func newPromptsListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List the tasks with their current prompt version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := conf(cmd)
			if err != nil {
				return err
			}
			out := struct {
				Store string        `json:"store"`
				Tasks []taskSummary `json:"tasks"`
			}{Store: promptsDir(l.Home), Tasks: []taskSummary{}}
			s, err := openStoreRead(cmd)
			switch {
			case errors.Is(err, errNoStore): // nothing learned yet: an empty list
			case err != nil:
				return err
			default:
				defer s.Close()
				ctx := cmd.Context()
				tasks, err := s.Tasks(ctx)
				if err != nil {
					return err
				}
				for _, t := range tasks {
					sum := taskSummary{Task: t}
					if cur, err := s.Current(ctx, t.Name); err == nil {
						sum.Version, sum.Candidate = cur.Seq, cur.Candidate
					} else if !errors.Is(err, prompts.ErrNoVersion) {
						return err
					}
					cs, err := s.Candidates(ctx, t.Name)
					if err != nil {
						return err
					}
					hist, err := s.History(ctx, t.Name)
					if err != nil {
						return err
					}
					sum.Candidates, sum.Versions = len(cs), len(hist)
					out.Tasks = append(out.Tasks, sum)
				}
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return writeJSON(w, out)
			}
			if len(out.Tasks) == 0 {
				fmt.Fprintf(w, "no tasks in %s\n", out.Store)
				return nil
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TASK\tVERSION\tCANDIDATE\tCANDIDATES\tVERSIONS\tDESCRIPTION")
			for _, t := range out.Tasks {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", t.Name, orNone(t.Version), orNone(t.Candidate), t.Candidates, t.Versions, t.Description)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// candidateSummary is one candidate in `fastslow prompts show --json`.
type candidateSummary struct {
	ID         uint64   `json:"id"`
	Generation int      `json:"generation"`
	Proposer   string   `json:"proposer,omitempty"`
	Parents    []uint64 `json:"parents,omitempty"`
	Mean       *float64 `json:"mean_score,omitempty"` // over the instances it was scored on; absent if none
	Scored     int      `json:"scored"`
}

// taskDetail is `fastslow prompts show --json`.
type taskDetail struct {
	Task       prompts.Task       `json:"task"`
	Current    *prompts.Version   `json:"current"`   // null before the first promotion
	Candidate  *prompts.Candidate `json:"candidate"` // the one served
	Lessons    []prompts.Lesson   `json:"lessons"`   // the served candidate's
	Demos      []prompts.Demo     `json:"demos"`
	Notes      []prompts.Note     `json:"notes"`
	History    []prompts.Version  `json:"history"`
	Candidates []candidateSummary `json:"candidates"`
	// Stored is everything the task holds, whether or not the served candidate pins it: the served prompt
	// is the candidate's system text, lessons and demos, plus the task's notes retrieved for each input.
	Stored storedRecords `json:"stored"`
}

// storedRecords are all of a task's records (what 'prompts export' writes of them).
type storedRecords struct {
	Lessons  []prompts.Lesson   `json:"lessons"`
	Demos    []prompts.Demo     `json:"demos"`
	Notes    []prompts.Note     `json:"notes"`
	Feedback []prompts.Feedback `json:"feedback"`
}

func newPromptsShowCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show TASK [--json]",
		Short: "Show a task's served prompt, its history and its candidates",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStoreRead(cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			d, err := loadTaskDetail(cmd, s, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), d)
			}
			return printTaskDetail(cmd.OutOrStdout(), d)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func loadTaskDetail(cmd *cobra.Command, s *prompts.Store, task string) (taskDetail, error) {
	ctx := cmd.Context()
	d := taskDetail{Lessons: []prompts.Lesson{}, Demos: []prompts.Demo{}, Notes: []prompts.Note{}, Candidates: []candidateSummary{}}
	var err error
	if d.Task, err = s.Task(ctx, task); err != nil {
		return d, err
	}
	if d.History, err = s.History(ctx, task); err != nil {
		return d, err
	}
	cs, err := s.Candidates(ctx, task)
	if err != nil {
		return d, err
	}
	for _, c := range cs {
		sum := candidateSummary{ID: c.ID, Generation: c.Generation, Proposer: c.Proposer, Parents: c.Parents, Scored: len(c.Scores)}
		if m, ok := c.Mean(nil); ok {
			sum.Mean = &m
		}
		d.Candidates = append(d.Candidates, sum)
	}
	if d.Stored, err = loadStored(cmd, s, task); err != nil {
		return d, err
	}
	cur, err := s.Current(ctx, task)
	if errors.Is(err, prompts.ErrNoVersion) {
		return d, nil
	}
	if err != nil {
		return d, err
	}
	d.Current = &cur
	c, err := s.Candidate(ctx, task, cur.Candidate)
	if err != nil {
		return d, err
	}
	d.Candidate = &c
	for _, x := range d.Stored.Lessons {
		if slices.Contains(c.Lessons, x.ID) {
			d.Lessons = append(d.Lessons, x)
		}
	}
	for _, x := range d.Stored.Demos {
		if slices.Contains(c.Demos, x.ID) {
			d.Demos = append(d.Demos, x)
		}
	}
	for _, id := range c.Notes {
		n, err := s.Note(ctx, task, id)
		if err != nil {
			return d, err
		}
		d.Notes = append(d.Notes, n)
	}
	return d, nil
}

// loadStored reads all of task's lessons, demos, notes and feedback.
func loadStored(cmd *cobra.Command, s *prompts.Store, task string) (storedRecords, error) {
	ctx := cmd.Context()
	st := storedRecords{Notes: []prompts.Note{}}
	var err error
	if st.Lessons, err = s.Lessons(ctx, task); err != nil {
		return st, err
	}
	if st.Demos, err = s.Demos(ctx, task); err != nil {
		return st, err
	}
	if err := s.EachNote(ctx, task, func(n prompts.Note) error { st.Notes = append(st.Notes, n); return nil }); err != nil {
		return st, err
	}
	if st.Feedback, err = s.ListFeedback(ctx, task); err != nil {
		return st, err
	}
	if st.Lessons == nil {
		st.Lessons = []prompts.Lesson{}
	}
	if st.Demos == nil {
		st.Demos = []prompts.Demo{}
	}
	if st.Feedback == nil {
		st.Feedback = []prompts.Feedback{}
	}
	return st, nil
}

// printStored prints the task's records that the served candidate does not pin, and what becomes of them.
func printStored(w io.Writer, d taskDetail) {
	st := d.Stored
	if len(st.Lessons) == 0 && len(st.Demos) == 0 && len(st.Notes) == 0 && len(st.Feedback) == 0 {
		fmt.Fprintln(w, "\nthe task stores no lessons, demos, notes or feedback")
		return
	}
	var pinLessons, pinDemos []uint64
	if d.Candidate != nil {
		pinLessons, pinDemos = d.Candidate.Lessons, d.Candidate.Demos
	}
	fmt.Fprintf(w, "\nstored for the task (%d lessons, %d demos, %d notes, %d feedback records; 'fastslow prompts export %s' writes them all):\n",
		len(st.Lessons), len(st.Demos), len(st.Notes), len(st.Feedback), d.Task.Name)
	for _, x := range st.Lessons {
		if !slices.Contains(pinLessons, x.ID) {
			fmt.Fprintf(w, "  lesson %d, not in the served prompt: %s  [+%d -%d]\n", x.ID, oneLine(x.Text), x.Helpful, x.Harmful)
		}
	}
	for _, x := range st.Demos {
		if !slices.Contains(pinDemos, x.ID) {
			fmt.Fprintf(w, "  demo %d, not in the served prompt: %s => %s\n", x.ID, oneLine(x.Input), oneLine(x.Output))
		}
	}
	for _, x := range st.Notes {
		fmt.Fprintf(w, "  note %d, retrieved into the prompt for the inputs it matches: %s\n", x.ID, oneLine(x.Text))
	}
	for _, x := range st.Feedback {
		fmt.Fprintf(w, "  feedback %d on %s: score %.2f", x.ID, oneLine(x.Input), x.Score)
		if x.Answer != "" {
			fmt.Fprintf(w, ", answer %s", oneLine(x.Answer))
		}
		if x.Text != "" {
			fmt.Fprintf(w, ", %q", oneLine(x.Text))
		}
		fmt.Fprintln(w)
	}
}

func printTaskDetail(w io.Writer, d taskDetail) error {
	fmt.Fprintf(w, "task %s", d.Task.Name)
	if d.Task.Description != "" {
		fmt.Fprintf(w, ": %s", d.Task.Description)
	}
	fmt.Fprintf(w, " (created %s)\n", d.Task.Created.Local().Format(time.DateTime))
	if d.Current == nil {
		fmt.Fprintln(w, "no version promoted yet: inputs are served without a prompt of this task")
	} else {
		fmt.Fprintf(w, "serving version %d: candidate %d (%s)\n", d.Current.Seq, d.Current.Candidate, describeVersion(*d.Current))
		if d.Candidate.Proposer == fastslow.BareProposer {
			fmt.Fprintln(w, "the served candidate is the bare input: an input is served alone, without lessons, demos or notes")
		} else if d.Candidate.System == "" && len(d.Lessons) == 0 && len(d.Demos) == 0 && len(d.Notes) == 0 {
			fmt.Fprintln(w, "the served candidate has no system text, lessons, demos or notes of its own: an input is served "+
				"with the task's notes that match it (stored for the task, below)")
		}
		fmt.Fprintln(w, "\nsystem:")
		fmt.Fprintln(w, indent(d.Candidate.System, "  "))
		if len(d.Lessons) > 0 {
			fmt.Fprintf(w, "\nlessons (%d):\n", len(d.Lessons))
			for _, x := range d.Lessons {
				fmt.Fprintf(w, "  - %s  [+%d -%d]\n", oneLine(x.Text), x.Helpful, x.Harmful)
			}
		}
		if len(d.Demos) > 0 {
			fmt.Fprintf(w, "\ndemos (%d):\n", len(d.Demos))
			for _, x := range d.Demos {
				fmt.Fprintf(w, "  - %s => %s\n", oneLine(x.Input), oneLine(x.Output))
			}
		}
		if len(d.Notes) > 0 {
			fmt.Fprintf(w, "\nnotes (%d):\n", len(d.Notes))
			for _, x := range d.Notes {
				fmt.Fprintf(w, "  - %s\n", oneLine(x.Text))
			}
		}
	}
	printStored(w, d)
	if len(d.History) > 0 {
		fmt.Fprintln(w, "\nhistory:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  VERSION\tACTION\tCANDIDATE\tSCORE\tBASELINE\tWHEN\tWHY")
		for _, v := range d.History {
			fmt.Fprintf(tw, "  %d\t%s\t%d\t%.3f\t%s\t%s\t%s\n", v.Seq, v.Action, v.Candidate, v.Evidence.Score,
				baseline(v), v.Created.Local().Format(time.DateTime), describeVersion(v))
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\ncandidates (%d):\n", len(d.Candidates))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ID\tGENERATION\tPROPOSER\tMEAN SCORE\tSCORED")
	for _, c := range d.Candidates {
		mean := "-"
		if c.Mean != nil {
			mean = fmt.Sprintf("%.3f", *c.Mean)
		}
		fmt.Fprintf(tw, "  %d\t%d\t%s\t%s\t%d\n", c.ID, c.Generation, c.Proposer, mean, c.Scored)
	}
	return tw.Flush()
}

func describeVersion(v prompts.Version) string {
	var parts []string
	switch {
	case v.Action == prompts.ActionRollback:
		parts = append(parts, fmt.Sprintf("rollback to version %d", v.Restores))
	case v.Evidence.Forced:
		parts = append(parts, "forced")
	case v.Evidence.Instances > 0:
		parts = append(parts, fmt.Sprintf("gate passed on %d instances", v.Evidence.Instances))
	}
	if v.Evidence.Source != "" && v.Evidence.Source != "rollback" {
		parts = append(parts, "by "+v.Evidence.Source)
	}
	if v.Evidence.Reason != "" {
		parts = append(parts, oneLine(v.Evidence.Reason))
	}
	if len(parts) == 0 {
		return string(v.Action)
	}
	return strings.Join(parts, ", ")
}

func baseline(v prompts.Version) string {
	if v.Action == prompts.ActionRollback || v.Evidence.BaselineCandidate == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f", v.Evidence.Baseline)
}

func newPromptsPromoteCmd() *cobra.Command {
	var (
		force  bool
		reason string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "promote TASK CANDIDATE [--force] [--reason TEXT]",
		Short: "Serve a candidate prompt, if it does not lower the validation score",
		Long: `Promote makes a candidate the task's served prompt through the gate: it must have been scored on every
validation instance the current version was, and score no lower there. --force skips the gate and records
that it did.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(args[1], 10, 64)
			if err != nil || id == 0 {
				return usagef("candidate %q: want a candidate id (a positive number; see 'fastslow prompts show %s')", args[1], args[0])
			}
			s, err := openStore(cmd, false)
			if err != nil {
				return err
			}
			defer s.Close()
			v, err := s.Promote(cmd.Context(), args[0], id, prompts.PromoteOptions{Source: "cli", Reason: reason, Force: force})
			if errors.Is(err, prompts.ErrGateRejected) || errors.Is(err, prompts.ErrNotEvaluated) {
				return fmt.Errorf("%w (--force promotes anyway)", err)
			}
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: serving candidate %d as version %d (%s)\n", v.Task, v.Candidate, v.Seq, describeVersion(v))
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&force, "force", false, "skip the gate")
	f.StringVar(&reason, "reason", "", "why, recorded with the version")
	f.BoolVar(&asJSON, "json", false, "print the new version as JSON")
	return cmd
}

func newPromptsRollbackCmd() *cobra.Command {
	var (
		to     uint64
		reason string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "rollback TASK [--to VERSION] [--reason TEXT]",
		Short: "Serve an earlier prompt version again",
		Long: `Rollback serves an earlier version's candidate again and records that as a new version: by default the
version before the one in effect (repeated rollbacks walk back through the history), or --to VERSION.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore(cmd, false)
			if err != nil {
				return err
			}
			defer s.Close()
			v, err := s.Rollback(cmd.Context(), args[0], to, reason)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: serving candidate %d again as version %d (rollback to version %d)\n", v.Task, v.Candidate, v.Seq, v.Restores)
			return nil
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&to, "to", 0, "version to restore (default: the one before the version in effect)")
	f.StringVar(&reason, "reason", "", "why, recorded with the version")
	f.BoolVar(&asJSON, "json", false, "print the new version as JSON")
	return cmd
}

func newPromptsExportCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "export [TASK...] [--output FILE]",
		Short: "Write tasks (default all) as one JSON document",
		Long: `Export writes the named tasks, or all of them, with their candidates, lessons, demos, notes, feedback and
version history as one JSON document (format ` + prompts.ExportFormat + `), to standard output or --output FILE.
'fastslow prompts import' reads it back, in this store or another.`,
		RunE: func(cmd *cobra.Command, tasks []string) error {
			s, err := openStoreRead(cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			if output == "" || output == "-" {
				return s.Export(cmd.Context(), cmd.OutOrStdout(), tasks...)
			}
			return atomicfile.WriteFile(output, 0o644, func(w io.Writer) error { return s.Export(cmd.Context(), w, tasks...) })
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "file to write (default standard output)")
	cmd.Flags().Bool("json", false, "accepted for uniformity: the document is JSON already")
	return cmd
}

func newPromptsImportCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "import FILE [--json]",
		Short: "Add the tasks of an exported document to the store",
		Long: `Import reads a document written by 'fastslow prompts export' ("-" reads standard input) and adds its tasks
to the store, creating the store if needed. The whole document is checked first: a malformed document, or one
naming a task the store already has, changes nothing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r io.Reader = cmd.InOrStdin()
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			s, err := openStore(cmd, true)
			if err != nil {
				return err
			}
			defer s.Close()
			sum, err := s.Import(cmd.Context(), r)
			if err != nil {
				return fmt.Errorf("import %s: %w", args[0], err)
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), sum)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported %d tasks (%s): %d versions, %d candidates, %d lessons, %d demos, %d notes, %d feedback records\n",
				len(sum.Tasks), strings.Join(sum.Tasks, ", "), sum.Versions, sum.Candidates, sum.Lessons, sum.Demos, sum.Notes, sum.Feedback)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the summary as JSON")
	return cmd
}

func orNone(n uint64) string {
	if n == 0 {
		return "-"
	}
	return strconv.FormatUint(n, 10)
}

func oneLine(s string) string { return escapeControl(strings.Join(strings.Fields(s), " ")) }

func indent(s, prefix string) string {
	if s == "" {
		return prefix + "(empty)"
	}
	return prefix + strings.ReplaceAll(escapeControl(strings.TrimRight(s, "\n")), "\n", "\n"+prefix)
}
