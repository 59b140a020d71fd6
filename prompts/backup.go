package prompts

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/table"
)

// KeepSnapshots is how many automatic snapshots a store keeps; older ones
// are removed when a new one is written.
const KeepSnapshots = 3

// backupHeader starts every backup file; backupTrailer ends it, followed by
// the hex SHA-256 of everything between the header and the trailer.
const (
	backupHeader  = "fastslow prompts backup v1\n"
	backupTrailer = "\nsha256 "
	backupExt     = ".backup"
)

// trailerLen is the length of the trailer with its digest and newline.
const trailerLen = len(backupTrailer) + 64 + 1

// SnapshotDir is where the automatic snapshots of the store in dir go: a
// sibling directory, dir + ".snapshots".
func SnapshotDir(dir string) string { return filepath.Clean(dir) + ".snapshots" }

// LeftoverDir is where a read-write Open moves table files that the
// MANIFEST does not list: dir + ".leftover".
func LeftoverDir(dir string) string { return filepath.Clean(dir) + ".leftover" }

// Snapshots lists the automatic snapshots of the store in dir, oldest first.
func Snapshots(dir string) ([]string, error) {
	entries, err := os.ReadDir(SnapshotDir(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	var out []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), backupExt) {
			out = append(out, filepath.Join(SnapshotDir(dir), e.Name()))
		}
	}
	slices.Sort(out) // names are UTC timestamps
	return out, nil
}

// Backup writes every record of the store to w as a backup file (badger's
// backup stream between a header and a SHA-256 trailer) that Restore reads.
// It reads a consistent view; writes may go on meanwhile.
func (s *Store) Backup(ctx context.Context, w io.Writer) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := io.WriteString(w, backupHeader); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	h := sha256.New()
	stream := s.db.NewStream()
	stream.LogPrefix = "prompts.Backup"
	if _, err := stream.Backup(io.MultiWriter(w, h), 0); err != nil {
		return fmt.Errorf("backup %s: %w", s.dir, err)
	}
	if _, err := fmt.Fprintf(w, "%s%x\n", backupTrailer, h.Sum(nil)); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// BackupFile writes a backup of the store to path through a temporary file
// in the same directory, renamed into place once complete and synced.
func (s *Store) BackupFile(ctx context.Context, path string) error {
	return writeAtomic(path, func(w io.Writer) error { return s.Backup(ctx, w) })
}

// snapshot writes an automatic snapshot and prunes old ones. It returns the
// snapshot's path.
func (s *Store) snapshot() (string, error) {
	sd := SnapshotDir(s.dir)
	if err := os.MkdirAll(sd, 0o755); err != nil {
		return "", fmt.Errorf("snapshot: %w", err)
	}
	removeTemps(sd)
	// A store unchanged since its newest snapshot needs no other one (and
	// must not push older ones out).
	version := fmt.Sprintf("v%d", s.db.MaxVersion())
	if all, err := Snapshots(s.dir); err == nil && len(all) > 0 &&
		strings.HasSuffix(all[len(all)-1], "-"+version+backupExt) {
		return all[len(all)-1], nil
	}
	name := time.Now().UTC().Format("20060102T150405.000000000Z") + "-" + version + backupExt
	path := filepath.Join(sd, name)
	if err := s.BackupFile(context.Background(), path); err != nil {
		return "", fmt.Errorf("snapshot: %w", err)
	}
	all, err := Snapshots(s.dir)
	if err != nil {
		return path, err
	}
	for len(all) > KeepSnapshots {
		if err := os.Remove(all[0]); err != nil {
			return path, fmt.Errorf("prune snapshots: %w", err)
		}
		all = all[1:]
	}
	return path, nil
}

// writeAtomic writes path through a temporary file ".NAME.tmp-*" in the same
// directory; the temporary file is removed on failure.
func writeAtomic(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	bw := bufio.NewWriterSize(tmp, 1<<16)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

// removeTemps removes the temporary files of writes interrupted in dir.
func removeTemps(dir string) {
	tmps, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*"))
	for _, t := range tmps {
		_ = os.Remove(t)
	}
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// VerifyBackup checks that the file at path is a whole backup: its header,
// and the SHA-256 of its contents against its trailer.
func VerifyBackup(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = backupBody(f)
	return err
}

// backupBody checks the backup in f and returns the size of its badger
// stream, which starts right after the header.
func backupBody(f *os.File) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := fi.Size() - int64(len(backupHeader)) - int64(trailerLen)
	head := make([]byte, len(backupHeader))
	if _, err := io.ReadFull(f, head); err != nil || string(head) != backupHeader || size < 0 {
		return 0, fmt.Errorf("%w: %s is not a prompts backup", ErrMalformedImport, f.Name())
	}
	var h hash.Hash = sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, int64(len(backupHeader)), size)); err != nil {
		return 0, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	trailer := make([]byte, trailerLen)
	if _, err := f.ReadAt(trailer, int64(len(backupHeader))+size); err != nil {
		return 0, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	want := backupTrailer + hex.EncodeToString(h.Sum(nil)) + "\n"
	if string(trailer) != want {
		return 0, fmt.Errorf("%w: %s is damaged or incomplete (checksum mismatch)", ErrMalformedImport, f.Name())
	}
	return size, nil
}

// Restore replaces the store in dir with the contents of the backup file
// at path. The backup is verified whole first; it is loaded into a new
// store beside dir, and only then is dir renamed to the returned path
// (dir + ".replaced-TIME", kept: nothing is deleted) and the new store
// renamed into its place. dir need not exist, and may be damaged. Restore
// fails with ErrLocked when a process has dir open.
func Restore(ctx context.Context, dir, path string) (replaced string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	size, err := backupBody(f)
	if err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	dir = filepath.Clean(dir)
	if _, err := os.Stat(dir); err == nil && ownLock {
		lock, err := lockDir(dir, false)
		if err != nil {
			return "", fmt.Errorf("restore %s: %w", dir, err)
		}
		defer lock.Close()
	}
	tmp := dir + ".restoring"
	if err := os.RemoveAll(tmp); err != nil { // our own temporary store of an interrupted restore
		return "", fmt.Errorf("restore: %w", err)
	}
	s, err := Open(tmp, &Options{NoSnapshot: true})
	if err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	if err := ctx.Err(); err != nil {
		_ = s.Close()
		return "", err
	}
	if err := s.db.Load(io.NewSectionReader(f, int64(len(backupHeader)), size), 256); err != nil {
		_ = s.Close()
		return "", fmt.Errorf("restore: load %s: %w", path, err)
	}
	if err := s.checkSchema(); err != nil {
		_ = s.Close()
		return "", fmt.Errorf("restore: %w", err)
	}
	if err := s.Close(); err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	if _, err := os.Stat(dir); err == nil {
		replaced = dir + ".replaced-" + time.Now().UTC().Format("20060102T150405.000000000Z")
		if err := os.Rename(dir, replaced); err != nil {
			return "", fmt.Errorf("restore: set %s aside: %w", dir, err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return replaced, fmt.Errorf("restore: %w", err)
	}
	syncDir(filepath.Dir(dir))
	return replaced, nil
}

// setAside moves the table files with the given ids out of dir into a new
// folder under LeftoverDir(dir).
func setAside(dir string, ids leftovers, names ...string) error {
	for _, id := range ids {
		names = append(names, table.IDToFilename(id))
	}
	to := filepath.Join(LeftoverDir(dir), time.Now().UTC().Format("20060102T150405.000000000Z"))
	if err := os.MkdirAll(to, 0o755); err != nil {
		return fmt.Errorf("set leftover files aside: %w", err)
	}
	for _, name := range names {
		if err := os.Rename(filepath.Join(dir, name), filepath.Join(to, name)); err != nil {
			return fmt.Errorf("set leftover file aside: %w", err)
		}
	}
	syncDir(dir)
	return nil
}

// keyImport is the prefix of the import journal: one key per task of an
// import in progress.
const keyImport = "m/import/"

// finishImports removes the tasks of imports that did not complete (the
// process was killed) and clears their journal, so that an import is all or
// nothing per document.
func (s *Store) finishImports(ctx context.Context) error {
	var tasks []string
	err := s.view(ctx, func(txn *badger.Txn) error {
		p := []byte(keyImport)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
		defer it.Close()
		for it.Rewind(); it.ValidForPrefix(p); it.Next() {
			tasks = append(tasks, strings.TrimPrefix(string(it.Item().Key()), keyImport))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read import journal: %w", err)
	}
	for _, task := range tasks {
		if err := s.RemoveTask(ctx, task); err != nil && !errors.Is(err, ErrUnknownTask) {
			return fmt.Errorf("undo interrupted import of %s: %w", task, err)
		}
	}
	return nil
}

// journalImport records the tasks of an import about to be written, or
// (done) clears them.
func (s *Store) journalImport(ctx context.Context, tasks []string, done bool) error {
	return s.update(ctx, func(txn *badger.Txn) error {
		for _, t := range tasks {
			k := []byte(keyImport + t)
			var err error
			if done {
				err = txn.Delete(k)
			} else {
				err = txn.Set(k, nil)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// RemoveTask deletes a task and every record of it. The task disappears
// at once (its task record goes first); the rest is deleted after, and a
// removal interrupted in between leaves keys nothing reads, which the next
// import or removal of that name deletes.
func (s *Store) RemoveTask(ctx context.Context, task string) error {
	if err := validTaskName(task); err != nil {
		return err
	}
	existed := true
	err := s.update(ctx, func(txn *badger.Txn) error {
		existed = true
		_, err := txn.Get(taskKey(task))
		if errors.Is(err, badger.ErrKeyNotFound) {
			existed = false // nothing visible; still delete garbage below
			return nil
		}
		if err != nil {
			return err
		}
		if err := txn.Delete(taskKey(task)); err != nil {
			return err
		}
		return txn.Delete(pointerKey(task))
	})
	if err != nil {
		return fmt.Errorf("remove task %s: %w", task, err)
	}
	if err := s.dropOrphans(ctx, task); err != nil {
		return fmt.Errorf("remove task %s: %w", task, err)
	}
	if err := s.update(ctx, func(txn *badger.Txn) error { return txn.Delete([]byte(keyImport + task)) }); err != nil {
		return fmt.Errorf("remove task %s: %w", task, err)
	}
	if !existed {
		return fmt.Errorf("%w: %q", ErrUnknownTask, task)
	}
	return nil
}

// Checkup is what Doctor found in a store.
type Checkup struct {
	Dir        string   `json:"dir"`
	Tables     int      `json:"tables"`      // table files, each checked block by block
	Keys       int      `json:"keys"`        // records read, each value with its checksum
	Tasks      int      `json:"tasks"`       // tasks in the store
	ValueBytes int64    `json:"value_bytes"` // bytes of values read
	Leftovers  []string `json:"leftovers,omitempty"`
	Snapshots  []string `json:"snapshots"`
}

// Doctor checks the store in dir without writing to it: the MANIFEST, every
// table block's checksum, and every record's value (with the value log's
// checksums). It fails with the error a read-only Open would give
// (ErrCorrupt, ErrInterrupted, ErrLocked, ...) or one naming the first
// unreadable record; the Checkup holds what was found up to there.
func Doctor(ctx context.Context, dir string) (Checkup, error) {
	c := Checkup{Dir: dir, Snapshots: []string{}}
	snaps, err := Snapshots(dir)
	if err != nil {
		return c, err
	}
	c.Snapshots = append(c.Snapshots, snaps...)
	ids, err := tableFiles(dir)
	if err != nil {
		return c, fmt.Errorf("check %s: %w", dir, err)
	}
	c.Tables = len(ids)
	s, err := Open(dir, &Options{ReadOnly: true})
	if err != nil {
		if errors.Is(err, ErrInterrupted) {
			if extra, empty, verr := verifyDir(dir); verr == nil {
				for _, id := range extra {
					c.Leftovers = append(c.Leftovers, table.IDToFilename(id))
				}
				c.Leftovers = append(c.Leftovers, empty...)
			}
		}
		return c, err
	}
	defer s.Close()
	err = s.view(ctx, func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{AllVersions: false})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			item := it.Item()
			if err := item.Value(func(v []byte) error {
				c.ValueBytes += int64(len(v))
				return nil
			}); err != nil {
				return fmt.Errorf("%w: record %q: %v", ErrCorrupt, item.Key(), firstLine(err.Error()))
			}
			c.Keys++
			if strings.HasPrefix(string(item.Key()), pfxTask) {
				c.Tasks++
			}
		}
		return nil
	})
	if err != nil {
		return c, fmt.Errorf("check %s: %w", dir, err)
	}
	return c, nil
}
