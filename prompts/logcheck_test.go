package prompts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/internal/dirhash"
)

// vlogStore makes a closed store whose notes are too large for the tables,
// so that badger keeps them in its value log: three notes of 1.2 MB (over
// the 1 MiB threshold of the default options, and the 32 KiB of Small).
func vlogStore(t *testing.T, opts Options) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "s")
	opts.NoSnapshot = true
	s, err := Open(dir, &opts)
	if err != nil {
		t.Fatal(err)
	}
	mustTask(t, s, "alpha")
	for i := range 3 {
		n := Note{Text: fmt.Sprintf("note %d: %s", i, strings.Repeat("the river is wide ", 70000))}
		if _, err := s.AddNotes(context.Background(), "alpha", []Note{n, {Text: "a small note"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "000001.vlog")); err != nil || fi.Size() < 3<<20 {
		t.Fatalf("the value log does not hold the notes: %v %v", fi, err)
	}
	return dir
}

// killedWriterStore makes a store whose writer was killed after it wrote
// one task, leaving its memtable's write-ahead log (.mem, preallocated and
// zero-filled past its entries), and returns the directory and that file.
func killedWriterStore(t *testing.T) (dir, mem string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "s")
	cmd := childCmd(t, "hold", dir)
	cmd.Env = append(cmd.Env, childEnv+"=hold-write")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(out, buf); err != nil || string(buf) != "ready\n" {
		t.Fatalf("child: %q, %v", buf, err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	mems, _ := filepath.Glob(filepath.Join(dir, "*.mem"))
	if len(mems) != 1 {
		t.Fatalf("want one .mem file after the kill, have %v", mems)
	}
	return dir, mems[0]
}

// dataEnd returns the offset after the last nonzero byte of the file.
func dataEnd(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return len(bytes.TrimRight(b, "\x00"))
}

func cutTo(path string, n int64) error { return os.Truncate(path, n) }

func cutBy(path string, n int64) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	return os.Truncate(path, fi.Size()-n)
}

func flipAt(path string, off int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		return err
	}
	b[0] ^= 0x10
	_, err = f.WriteAt(b[:], off)
	return err
}

// TestOpenRefusesLogDamage: damage inside a value log (.vlog) or a killed
// writer's memtable log (.mem), which badger replays up to the damage and
// then truncates without a word, is refused by read-only and read-write
// opens alike with one line naming the file, and the directory stays
// byte-identical: no data cut off, and no preallocated .mem (8 MiB with
// Small, 128 MiB by default) or .vlog (512 MiB by default) left behind.
func TestOpenRefusesLogDamage(t *testing.T) {
	vlog := func(dir string) string { return filepath.Join(dir, "000001.vlog") }
	cases := []struct {
		name   string
		opts   Options // how the store is made and opened
		killed bool    // a killed writer's store (its .mem) instead of vlogStore
		damage func(t *testing.T, dir, mem string) error
		want   string
	}{
		{"vlog cut by 3 bytes", Options{}, false, func(t *testing.T, dir, _ string) error {
			return cutBy(vlog(dir), 3)
		}, "000001.vlog: the file ends inside the entry"},
		{"vlog cut by 3 bytes, Small", Options{Small: true}, false, func(t *testing.T, dir, _ string) error {
			return cutBy(vlog(dir), 3)
		}, "000001.vlog: the file ends inside the entry"},
		{"vlog cut to 10 bytes", Options{}, false, func(t *testing.T, dir, _ string) error {
			return cutTo(vlog(dir), 10)
		}, "000001.vlog: has 10 bytes"},
		{"vlog cut to 0 bytes", Options{}, false, func(t *testing.T, dir, _ string) error {
			// Not the newest value log (an empty newest one is an interrupted creation).
			s, err := Open(dir, &Options{NoSnapshot: true})
			if err != nil {
				return err
			}
			if err := s.Close(); err != nil {
				return err
			}
			return cutTo(vlog(dir), 0)
		}, "000001.vlog: has 0 bytes"},
		{"vlog cut between entries", Options{}, false, func(t *testing.T, dir, _ string) error {
			// The second note's entry starts where the first ends.
			return cutTo(vlog(dir), logHeaderSize+1)
		}, "000001.vlog: the file ends inside the header of the entry at byte 20"},
		{"vlog bit flipped in its first entry", Options{}, false, func(t *testing.T, dir, _ string) error {
			return flipAt(vlog(dir), 100)
		}, "000001.vlog: the entry at byte 20 fails its checksum"},
		{"vlog bit flipped in its middle", Options{}, false, func(t *testing.T, dir, _ string) error {
			fi, err := os.Stat(vlog(dir))
			if err != nil {
				return err
			}
			return flipAt(vlog(dir), fi.Size()/2)
		}, "fails its checksum"},
		{"vlog bit flipped in its last checksum", Options{}, false, func(t *testing.T, dir, _ string) error {
			fi, err := os.Stat(vlog(dir))
			if err != nil {
				return err
			}
			return flipAt(vlog(dir), fi.Size()-1) // the last entry's checksum, low byte
		}, "fails its checksum"},
		{"mem cut by 3 bytes", Options{Small: true}, true, func(t *testing.T, _, mem string) error {
			return cutTo(mem, int64(dataEnd(t, mem)-3))
		}, ".mem: the file ends inside the entry"},
		{"mem cut to half its entries", Options{Small: true}, true, func(t *testing.T, _, mem string) error {
			return cutTo(mem, int64(dataEnd(t, mem)/2))
		}, ".mem: the file ends inside the entry"},
		{"mem cut to 10 bytes", Options{Small: true}, true, func(t *testing.T, _, mem string) error {
			return cutTo(mem, 10)
		}, ".mem: has 10 bytes"},
		{"mem bit flipped in its first entry", Options{Small: true}, true, func(t *testing.T, _, mem string) error {
			return flipAt(mem, logHeaderSize+10)
		}, ".mem: the entry at byte 20 fails its checksum"},
		{"mem bit flipped in its middle", Options{Small: true}, true, func(t *testing.T, _, mem string) error {
			return flipAt(mem, int64(dataEnd(t, mem)/2))
		}, "fails its checksum"},
		{"mem byte set in its zero tail", Options{Small: true}, true, func(t *testing.T, _, mem string) error {
			return flipAt(mem, int64(dataEnd(t, mem)+4096))
		}, ".mem: "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var dir, mem string
			if tc.killed {
				dir, mem = killedWriterStore(t)
			} else {
				dir = vlogStore(t, tc.opts)
			}
			if err := tc.damage(t, dir, mem); err != nil {
				t.Fatal(err)
			}
			before := dirhash.Digest(t, dir)
			names := dirNames(t, dir)
			for _, ro := range []bool{true, false} {
				opts := tc.opts
				opts.ReadOnly = ro
				s, err := Open(dir, &opts)
				if err == nil {
					s.Close()
					t.Fatalf("ReadOnly=%v: Open succeeded on a store with a damaged log", ro)
				}
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("ReadOnly=%v: Open = %v, want ErrCorrupt", ro, err)
				}
				if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, tc.want) {
					t.Errorf("ReadOnly=%v: error %q: want one line with %q", ro, msg, tc.want)
				}
				if got := dirNames(t, dir); !slices.Equal(got, names) {
					t.Fatalf("ReadOnly=%v: files %v after the failed open, were %v", ro, got, names)
				}
				if dirhash.Digest(t, dir) != before {
					t.Fatalf("ReadOnly=%v: Open changed the damaged store", ro)
				}
			}
		})
	}
}

// TestOpenAcceptsKilledWriterLogs: what a killed writer leaves is not
// damage. Its .mem as left, and with its last entry's copy cut short (the
// tail of the entry zero, as a kill in the middle of the copy into the
// mapped file leaves it), is read: a read-only open says interrupted, a
// read-write open recovers the store (the cut transaction is not there, as
// it never completed).
func TestOpenAcceptsKilledWriterLogs(t *testing.T) {
	for _, torn := range []int{0, 1, 4, 9} {
		t.Run(fmt.Sprintf("last %d bytes zeroed", torn), func(t *testing.T) {
			dir, mem := killedWriterStore(t)
			end := dataEnd(t, mem)
			if torn > 0 {
				f, err := os.OpenFile(mem, os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				_, err = f.WriteAt(make([]byte, torn), int64(end-torn))
				f.Close()
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := checkLogFile(mem); err != nil {
				t.Fatalf("checkLogFile: %v", err)
			}
			wantInterrupted(t, dir)
			want := []string{"held"}
			if torn > 0 {
				want = nil
			}
			if got := reopenTasks(t, dir, &Options{Small: true}); !slices.Equal(got, want) {
				t.Fatalf("tasks after recovery: %v, want %v", got, want)
			}
		})
	}
}

// TestFailedOpenRemovesWhatItMade: when badger fails after it created its
// new memtable log and value log (here a file named copy.vlog, a copy of
// the store's value log, which badger cannot number), the files it made
// are removed: the directory is as it was, with no 128 MiB .mem left.
func TestFailedOpenRemovesWhatItMade(t *testing.T) {
	dir := vlogStore(t, Options{})
	b, err := os.ReadFile(filepath.Join(dir, "000001.vlog"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "copy.vlog"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	before := dirhash.Digest(t, dir)
	names := dirNames(t, dir)
	s, err := Open(dir, &Options{NoSnapshot: true})
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded with a value log badger cannot number")
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error of more than one line: %q", err)
	}
	if got := dirNames(t, dir); !slices.Equal(got, names) {
		t.Fatalf("files %v after the failed open, were %v", got, names)
	}
	if dirhash.Digest(t, dir) != before {
		t.Fatal("the failed Open changed the store")
	}
	if _, err := os.Stat(SnapshotDir(dir)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a snapshot was made by a failed open: %v", err)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, fmt.Sprintf("%s:%d", e.Name(), fi.Size()))
	}
	return names
}

// TestOpenInterruptedCreation: a process killed while it created a store, after the marker and before badger's
// MANIFEST, leaves a store that holds nothing: a read-only open says there is no store yet (not corrupt) and
// changes nothing, and a read-write open makes the store.
func TestOpenInterruptedCreation(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeMarker(dir); err != nil {
		t.Fatal(err)
	}
	before := dirhash.Digest(t, dir)
	if _, err := Open(dir, &Options{Small: true, ReadOnly: true}); !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("read-only Open = %v, want fs.ErrNotExist", err)
	}
	if dirhash.Digest(t, dir) != before {
		t.Fatal("read-only Open changed the directory")
	}
	s, err := Open(dir, &Options{Small: true})
	if err != nil {
		t.Fatal(err)
	}
	mustTask(t, s, "alpha")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestOpenInterruptedMarker: a process killed while it wrote a new store's marker leaves the marker empty or
// cut (seen in TestKillImport): a read-only open says there is no store yet and changes nothing, a read-write
// open finishes the marker and makes the store; a marker with other text is still foreign.
func TestOpenInterruptedMarker(t *testing.T) {
	full := fmt.Sprintf("%s%d\n", markerText, schemaVersion)
	for _, tc := range []struct {
		name, marker string
		foreign      bool
	}{
		{"empty", "", false},
		{"cut in the title", full[:7], false},
		{"cut before the newline", full[:len(full)-1], false},
		{"other text", "not ours\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "s")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, MarkerFile), []byte(tc.marker), 0o644); err != nil {
				t.Fatal(err)
			}
			before := dirhash.Digest(t, dir)
			_, err := Open(dir, &Options{Small: true, ReadOnly: true})
			if tc.foreign {
				if !errors.Is(err, ErrForeign) {
					t.Fatalf("read-only Open = %v, want ErrForeign", err)
				}
			} else if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrCorrupt) {
				t.Fatalf("read-only Open = %v, want fs.ErrNotExist", err)
			}
			if dirhash.Digest(t, dir) != before {
				t.Fatal("read-only Open changed the directory")
			}
			s, err := Open(dir, &Options{Small: true})
			if tc.foreign {
				if !errors.Is(err, ErrForeign) {
					t.Fatalf("Open = %v, want ErrForeign", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			mustTask(t, s, "alpha")
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestOpenSetsAsideEmptyNewestLogs: a process killed between creating a log file and sizing it leaves the
// newest .mem or .vlog with 0 bytes (seen in TestKillImport). Badger cannot open such a file (it fails and
// leaves it preallocated); it holds nothing, so a read-only open says interrupted and changes nothing, and a
// read-write open sets it aside in the leftover directory and opens the store with all its records.
func TestOpenSetsAsideEmptyNewestLogs(t *testing.T) {
	for _, name := range []string{"00009.mem", "000009.vlog"} {
		t.Run(name, func(t *testing.T) {
			dir := twoTableStore(t)
			if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			wantInterrupted(t, dir, name)
			if got := reopenTasks(t, dir, &Options{Small: true, NoSnapshot: true}); !slices.Equal(got, []string{"alpha", "beta"}) {
				t.Fatalf("tasks %v", got)
			}
			moved, _ := filepath.Glob(filepath.Join(LeftoverDir(dir), "*", name))
			if len(moved) != 1 {
				t.Fatalf("%s not set aside in %s", name, LeftoverDir(dir))
			}
		})
	}
}
