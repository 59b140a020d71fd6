package prompts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/fastslow/fastslow/internal/dirhash"
)

// twoTableStore makes a store with two tasks whose records are in two table
// files (each Close flushes the memtable into a new level-0 table), and
// returns its directory.
func twoTableStore(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "s")
	for i, task := range []string{"alpha", "beta"} {
		s, err := Open(dir, &Options{Small: true, NoSnapshot: true})
		if err != nil {
			t.Fatal(err)
		}
		mustTask(t, s, task)
		var notes []Note
		for j := range 200 {
			notes = append(notes, Note{Text: fmt.Sprintf("fact %d of %s number %d: the river is wide", j, task, i)})
		}
		if _, err := s.AddNotes(context.Background(), task, notes); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if tables, _ := filepath.Glob(filepath.Join(dir, "*.sst")); len(tables) < 2 {
		t.Fatalf("want at least 2 table files, have %d", len(tables))
	}
	return dir
}

// wantInterrupted checks that a read-only Open of dir fails with ErrInterrupted, not ErrCorrupt, with an
// error that names each of names, and leaves the directory byte-identical.
func wantInterrupted(t *testing.T, dir string, names ...string) {
	t.Helper()
	before := dirhash.Digest(t, dir)
	_, err := Open(dir, &Options{Small: true, ReadOnly: true})
	if !errors.Is(err, ErrInterrupted) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("read-only Open = %v, want ErrInterrupted", err)
	}
	for _, name := range names {
		if !strings.Contains(err.Error(), name) {
			t.Fatalf("read-only Open = %v, want ErrInterrupted naming %s", err, name)
		}
	}
	if dirhash.Digest(t, dir) != before {
		t.Fatal("read-only Open changed the store")
	}
}

// reopenTasks opens the store in dir with opts (read-write: the recovery) and returns its task names.
func reopenTasks(t *testing.T, dir string, opts *Options) []string {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	return tasksOf(t, s)
}

func tasksOf(t *testing.T, s *Store) []string {
	t.Helper()
	ts, err := s.Tasks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, x := range ts {
		names = append(names, x.Name)
	}
	return names
}

// TestOpenRefusesDamage reproduces the damage of issue 14 (a MANIFEST cut by
// 3 bytes and cut to 10 bytes, 100 flipped bytes in a table file, a table
// missing): read-only and read-write opens fail with ErrCorrupt and one line
// of explanation, and the directory stays byte-identical.
func TestOpenRefusesDamage(t *testing.T) {
	cases := []struct {
		name   string
		damage func(dir string) error
		want   string
	}{
		{"MANIFEST cut by 3 bytes", func(dir string) error {
			p := filepath.Join(dir, "MANIFEST")
			fi, err := os.Stat(p)
			if err != nil {
				return err
			}
			return os.Truncate(p, fi.Size()-3)
		}, "MANIFEST record"},
		{"MANIFEST cut to 10 bytes", func(dir string) error {
			return os.Truncate(filepath.Join(dir, "MANIFEST"), 10)
		}, "MANIFEST is cut"},
		{"MANIFEST byte flipped", func(dir string) error {
			return flip(filepath.Join(dir, "MANIFEST"), 20, 1)
		}, "MANIFEST"},
		{"100 flipped bytes in a table's blocks", func(dir string) error {
			tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
			return flip(tables[0], 64, 100)
		}, "checksum"},
		{"table missing", func(dir string) error {
			tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
			return os.Rename(tables[0], filepath.Join(filepath.Dir(dir), "moved.sst"))
		}, "missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := twoTableStore(t)
			if err := tc.damage(dir); err != nil {
				t.Fatal(err)
			}
			before := dirhash.Digest(t, dir)
			for _, ro := range []bool{true, false} {
				s, err := Open(dir, &Options{Small: true, ReadOnly: ro})
				if err == nil {
					t.Fatalf("ReadOnly=%v: Open succeeded on a damaged store with tasks %v", ro, tasksOf(t, s))
				}
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("ReadOnly=%v: Open = %v, want ErrCorrupt", ro, err)
				}
				if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, tc.want) {
					t.Errorf("ReadOnly=%v: error %q: want one line mentioning %q", ro, msg, tc.want)
				}
				if dirhash.Digest(t, dir) != before {
					t.Fatalf("ReadOnly=%v: Open changed the damaged store", ro)
				}
			}
			if _, err := os.Stat(SnapshotDir(dir)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a snapshot directory was made for a damaged store: %v", err)
			}
		})
	}
}

// flip inverts n bytes of the file at path, spread evenly from offset off
// over the first half of the file (the data blocks, not the index).
func flip(path string, off, n int) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	span := len(b)/2 - off
	if span < n {
		return fmt.Errorf("%s too small to damage (%d bytes)", path, len(b))
	}
	for i := range n {
		b[off+i*span/n] ^= 0x5a
	}
	return os.WriteFile(path, b, 0o644)
}

// TestReadOnlyOpenWritesNothing opens a healthy store read-only twice at
// once, reads it, and checks that no file changed and no write is allowed.
func TestReadOnlyOpenWritesNothing(t *testing.T) {
	dir := twoTableStore(t)
	before := dirhash.Digest(t, dir)
	a, err := Open(dir, &Options{Small: true, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(dir, &Options{Small: true, ReadOnly: true})
	if err != nil {
		t.Fatalf("second reader: %v", err)
	}
	if got := tasksOf(t, b); !slices.Equal(got, []string{"alpha", "beta"}) {
		t.Errorf("tasks = %v", got)
	}
	if _, err := a.CreateTask(context.Background(), Task{Name: "gamma"}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("CreateTask on a read-only store = %v, want ErrReadOnly", err)
	}
	if _, err := Open(dir, &Options{Small: true}); !errors.Is(err, ErrLocked) {
		t.Errorf("writer while readers hold the store: %v, want ErrLocked", err)
	}
	a.Close()
	b.Close()
	if dirhash.Digest(t, dir) != before {
		t.Fatal("read-only opens changed the store")
	}
	if _, err := Open(filepath.Join(t.TempDir(), "none"), &Options{ReadOnly: true}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("read-only Open of a missing store = %v, want fs.ErrNotExist", err)
	}
}

// TestReadOnlyDirectory reads a store whose directory and files a user
// cannot write. Permission checks do not apply to root, so as root the
// test runs the reader in a child process as user nobody.
func TestReadOnlyDirectory(t *testing.T) {
	dir := twoTableStore(t)
	if os.Getuid() == 0 {
		// Copy the store and this test binary where nobody can reach them.
		base, err := os.MkdirTemp("", "fastslow-ro-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(base) })
		ro := filepath.Join(base, "store")
		copyDir(t, dir, ro)
		bin := filepath.Join(base, "prompts.test")
		copyFile(t, os.Args[0], bin, 0o755)
		if err := os.Chmod(base, 0o755); err != nil {
			t.Fatal(err)
		}
		makeReadOnly(t, ro)
		before := dirhash.Digest(t, ro)
		cmd := exec.Command(bin, "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=list-ro", childDirEnv+"="+ro)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("reader as nobody: %v: %s", err, out)
		}
		if got := strings.TrimSpace(string(out)); got != "alpha beta" {
			t.Fatalf("reader as nobody listed %q, want %q", got, "alpha beta")
		}
		w := exec.Command(bin, "-test.run=^$")
		w.Env = append(os.Environ(), childEnv+"=open-rw", childDirEnv+"="+ro)
		w.SysProcAttr = cmd.SysProcAttr
		out, _ = w.CombinedOutput()
		if msg := string(out); strings.Contains(msg, "corrupt") || !strings.Contains(msg, "permission denied") {
			t.Errorf("writer as nobody: %q, want a permission error that does not say corrupt", msg)
		}
		if dirhash.Digest(t, ro) != before {
			t.Fatal("the read-only store changed")
		}
		return
	}
	makeReadOnly(t, dir)
	s, err := Open(dir, &Options{Small: true, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := tasksOf(t, s); !slices.Equal(got, []string{"alpha", "beta"}) {
		t.Errorf("tasks = %v", got)
	}
	if _, err := Open(dir, &Options{Small: true}); err == nil || errors.Is(err, ErrCorrupt) {
		t.Errorf("read-write Open of a read-only directory = %v, want a permission error", err)
	}
}

func makeReadOnly(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		os.Chmod(filepath.Join(dir, e.Name()), 0o444)
	}
	os.Chmod(dir, 0o555)
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			copyFile(t, filepath.Join(from, e.Name()), filepath.Join(to, e.Name()), 0o644)
		}
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestLeftoverTablesSetAside adds a table file the MANIFEST does not list
// (what a process killed between writing a table and recording it leaves):
// a read-only Open refuses with ErrInterrupted and changes nothing; a
// read-write Open moves the file to LeftoverDir instead of deleting it.
func TestLeftoverTablesSetAside(t *testing.T) {
	dir := twoTableStore(t)
	tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	extra := filepath.Join(dir, "000999.sst")
	copyFile(t, tables[0], extra, 0o644)
	wantInterrupted(t, dir)
	if got := reopenTasks(t, dir, &Options{Small: true}); !slices.Equal(got, []string{"alpha", "beta"}) {
		t.Errorf("tasks = %v", got)
	}
	moved, _ := filepath.Glob(filepath.Join(LeftoverDir(dir), "*", "000999.sst"))
	if len(moved) != 1 {
		t.Fatalf("leftover table not set aside: %v", moved)
	}
}

// TestSnapshotBackupRestore: a read-write Open of a store with records
// snapshots it first; a damaged store is replaced by Restore from the
// snapshot (the damaged directory kept aside), and reads as before.
func TestSnapshotBackupRestore(t *testing.T) {
	ctx := context.Background()
	dir := twoTableStore(t)
	s, err := Open(dir, &Options{Small: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	snaps, err := Snapshots(dir)
	if err != nil || len(snaps) != 1 {
		t.Fatalf("snapshots = %v, %v; want 1", snaps, err)
	}
	for i := range KeepSnapshots + 1 {
		s, err := Open(dir, &Options{Small: true})
		if err != nil {
			t.Fatal(err)
		}
		s.Close() // unchanged: no new snapshot
		s, err = Open(dir, &Options{Small: true})
		if err != nil {
			t.Fatal(err)
		}
		mustTask(t, s, fmt.Sprintf("extra%d", i))
		s.Close()
	}

	if snaps, _ = Snapshots(dir); len(snaps) != KeepSnapshots {
		t.Fatalf("%d snapshots kept, want %d", len(snaps), KeepSnapshots)
	}
	// The newest snapshot holds the store as this Open found it.
	s, err = Open(dir, &Options{Small: true})
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := s.Export(ctx, &want); err != nil {
		t.Fatal(err)
	}
	s.Close()
	snaps, _ = Snapshots(dir)
	if err := os.Truncate(filepath.Join(dir, "MANIFEST"), 10); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, &Options{Small: true}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open of damaged store = %v", err)
	}
	// A damaged backup is refused before anything moves.
	bad := filepath.Join(t.TempDir(), "bad.backup")
	copyFile(t, snaps[len(snaps)-1], bad, 0o644)
	if err := flip(bad, 40, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(ctx, dir, bad); !errors.Is(err, ErrMalformedImport) {
		t.Fatalf("Restore from a damaged backup = %v, want ErrMalformedImport", err)
	}
	replaced, err := Restore(ctx, dir, snaps[len(snaps)-1])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(replaced, "MANIFEST")); err != nil {
		t.Errorf("damaged store not kept aside: %v", err)
	}
	r, err := Open(dir, &Options{Small: true, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got bytes.Buffer
	if err := r.Export(ctx, &got); err != nil {
		t.Fatal(err)
	}
	stamp := regexp.MustCompile(`"exported": *"[^"]*"`)
	if !bytes.Equal(stamp.ReplaceAll(got.Bytes(), nil), stamp.ReplaceAll(want.Bytes(), nil)) {
		t.Fatal("restored store exports differently from the original")
	}
}

// TestImportAllOrNothing: an import that fails on its second task leaves
// neither task; a journal left by a killed import is undone on the next
// read-write Open; RemoveTask removes a task and all its records.
func TestImportAllOrNothing(t *testing.T) {
	ctx := context.Background()
	src := openTest(t, "")
	for _, n := range []string{"a1", "a2"} {
		mustTask(t, src, n)
		if _, err := src.AddNotes(ctx, n, []Note{{Text: "note of " + n}}); err != nil {
			t.Fatal(err)
		}
	}
	var doc bytes.Buffer
	if err := src.Export(ctx, &doc); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "dst")
	dst, err := Open(dir, &Options{Small: true})
	if err != nil {
		t.Fatal(err)
	}
	// Killed after the first task: simulate with the journal written and
	// only a1 imported.
	if err := dst.journalImport(ctx, []string{"a1", "a2"}, false); err != nil {
		t.Fatal(err)
	}
	var one bytes.Buffer
	if err := src.Export(ctx, &one, "a1"); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Import(ctx, &one); err != nil {
		t.Fatal(err)
	}
	if err := dst.journalImport(ctx, []string{"a1", "a2"}, false); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	dst, err = Open(dir, &Options{Small: true})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if got := tasksOf(t, dst); len(got) != 0 {
		t.Fatalf("after reopening, tasks of the interrupted import remain: %v", got)
	}
	if _, err := dst.Import(ctx, bytes.NewReader(doc.Bytes())); err != nil {
		t.Fatalf("rerun of the import: %v", err)
	}
	if got := tasksOf(t, dst); !slices.Equal(got, []string{"a1", "a2"}) {
		t.Fatalf("tasks = %v", got)
	}
	if err := dst.RemoveTask(ctx, "a1"); err != nil {
		t.Fatal(err)
	}
	if err := dst.RemoveTask(ctx, "a1"); !errors.Is(err, ErrUnknownTask) {
		t.Errorf("second RemoveTask = %v, want ErrUnknownTask", err)
	}
	if n := keysWithTask(t, dst, "a1"); n != 0 {
		t.Errorf("%d keys of removed task a1 remain", n)
	}
	if _, err := dst.Import(ctx, bytes.NewReader(doc.Bytes())); !errors.Is(err, ErrTaskExists) {
		t.Fatalf("import naming an existing task = %v", err)
	}
	if got := tasksOf(t, dst); !slices.Equal(got, []string{"a2"}) {
		t.Fatalf("a refused import changed the tasks: %v", got)
	}
}

func keysWithTask(t *testing.T, s *Store, task string) int {
	t.Helper()
	n := 0
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if strings.Contains(string(it.Item().Key()), "/"+task+"/") || strings.HasSuffix(string(it.Item().Key()), "/"+task) {
				n++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReadOnlyAfterKill: a store whose writer was killed (its write-ahead log not closed) is not called
// corrupt by a read-only Open but ErrInterrupted, unchanged; a read-write Open recovers it with every
// record.
func TestReadOnlyAfterKill(t *testing.T) {
	dir, _ := killedWriterStore(t)
	wantInterrupted(t, dir)
	if got := reopenTasks(t, dir, &Options{Small: true}); !slices.Equal(got, []string{"held"}) {
		t.Fatalf("tasks after recovery: %v", got)
	}
}
