package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/fastslow/fastslow/prompts"
)

// openStoreRead opens the configured prompt store read-only: nothing in it is written, a read-only
// directory can be read, and other readers may have it open at the same time.
func openStoreRead(cmd *cobra.Command) (*prompts.Store, error) {
	l, err := conf(cmd)
	if err != nil {
		return nil, err
	}
	dir := promptsDir(l.Home)
	s, err := prompts.Open(dir, &prompts.Options{ReadOnly: true})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s (set home with --home or FASTSLOW_HOME)", errNoStore, dir)
	}
	if err != nil {
		return nil, storeError(dir, err)
	}
	return s, nil
}

// storeError adds to a failed open the command that helps.
func storeError(dir string, err error) error {
	switch {
	case errors.Is(err, prompts.ErrCorrupt):
		return fmt.Errorf("open prompt store: %w (nothing was changed; 'fastslow prompts restore' brings back the newest snapshot of %s)",
			err, prompts.SnapshotDir(dir))
	case errors.Is(err, prompts.ErrInterrupted):
		return fmt.Errorf("open prompt store: %w ('fastslow prompts doctor --fix' recovers it)", err)
	}
	return fmt.Errorf("open prompt store: %w", err)
}

func newPromptsAdminCmds() []*cobra.Command {
	return []*cobra.Command{newPromptsBackupCmd(), newPromptsRestoreCmd(), newPromptsDoctorCmd(), newPromptsRmCmd()}
}

func newPromptsBackupCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "backup [FILE] [--json]",
		Short: "Write a backup of the prompt store (default: a new snapshot)",
		Long: `Backup writes every record of the prompt store to FILE, or to a new file in the snapshot directory
($FASTSLOW_HOME/prompts.snapshots), with a checksum that 'fastslow prompts restore' verifies. Commands that
change the store take such a snapshot automatically first and keep the newest ` + fmt.Sprint(prompts.KeepSnapshots) + `.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStoreRead(cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			path := filepath.Join(prompts.SnapshotDir(s.Dir()), time.Now().UTC().Format("20060102T150405.000000000Z")+".backup")
			if len(args) == 1 {
				path = args[0]
			} else if err := os.MkdirAll(prompts.SnapshotDir(s.Dir()), 0o755); err != nil {
				return err
			}
			if err := s.BackupFile(cmd.Context(), path); err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), map[string]string{"backup": path})
			}
			fmt.Fprintln(cmd.OutOrStdout(), "wrote", path)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newPromptsRestoreCmd() *cobra.Command {
	var asJSON, list bool
	cmd := &cobra.Command{
		Use:   "restore [FILE] [--list] [--json]",
		Short: "Replace the prompt store with a backup (default: the newest snapshot)",
		Long: `Restore verifies the backup FILE (default: the newest automatic snapshot), loads it into a new store and
puts that in place of the prompt store. The store it replaces, damaged or not, is kept beside it as
prompts.replaced-TIME; nothing is deleted. --list lists the snapshots instead.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := conf(cmd)
			if err != nil {
				return err
			}
			dir := promptsDir(l.Home)
			snaps, err := prompts.Snapshots(dir)
			if err != nil {
				return err
			}
			if list {
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), map[string]any{"snapshots": append([]string{}, snaps...)})
				}
				for _, s := range snaps {
					fmt.Fprintln(cmd.OutOrStdout(), s)
				}
				return nil
			}
			var from string
			switch {
			case len(args) == 1:
				from = args[0]
			case len(snaps) == 0:
				return fmt.Errorf("no snapshots in %s: name a backup file", prompts.SnapshotDir(dir))
			default:
				from = snaps[len(snaps)-1]
			}
			replaced, err := prompts.Restore(cmd.Context(), dir, from)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), map[string]string{"restored": from, "store": dir, "replaced": replaced})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %s from %s\n", dir, from)
			if replaced != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "the store it replaced is kept in %s\n", replaced)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&list, "list", false, "list the snapshots, oldest first")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newPromptsDoctorCmd() *cobra.Command {
	var asJSON, fix bool
	cmd := &cobra.Command{
		Use:   "doctor [--fix] [--json]",
		Short: "Check the prompt store without changing it",
		Long: `Doctor checks the prompt store without writing to it: the MANIFEST, the checksum of every table block,
and every record with its value-log checksum. It exits 1 if the store is damaged (then 'fastslow prompts
restore' brings back a snapshot). --fix recovers what a killed process left (table files not yet
recorded are set aside in prompts.leftover, the write-ahead log is replayed), then checks again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := conf(cmd)
			if err != nil {
				return err
			}
			dir := promptsDir(l.Home)
			c, err := prompts.Doctor(cmd.Context(), dir)
			if fix && errors.Is(err, prompts.ErrInterrupted) {
				s, oerr := prompts.Open(dir, nil)
				if oerr != nil {
					return storeError(dir, oerr)
				}
				if oerr := s.Close(); oerr != nil {
					return oerr
				}
				c, err = prompts.Doctor(cmd.Context(), dir)
			}
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%w at %s (set home with --home or FASTSLOW_HOME)", errNoStore, dir)
			}
			if err != nil {
				return storeError(dir, err)
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), c)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: healthy: %d tasks, %d records (%d bytes of values), %d table files, %d snapshots\n",
				dir, c.Tasks, c.Keys, c.ValueBytes, c.Tables, len(c.Snapshots))
			return nil
		},
	}
	cmd.Flags().BoolVar(&fix, "fix", false, "recover what an interrupted write left, then check")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newPromptsRmCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "rm TASK... [--json]",
		Short: "Remove tasks and all their records",
		Long: `Rm removes each named task with its candidates, lessons, demos, notes, feedback, versions and runs. The
store is snapshotted first ('fastslow prompts restore' undoes it).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore(cmd, false)
			if err != nil {
				return err
			}
			defer s.Close()
			for _, task := range args {
				if err := s.RemoveTask(cmd.Context(), task); err != nil {
					return err
				}
			}
			if err := s.Close(); err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), map[string][]string{"removed": args})
			}
			for _, task := range args {
				fmt.Fprintln(cmd.OutOrStdout(), "removed", task)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
