package prompts

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/skl"
)

// MarkerFile is the name of the file that marks a directory as a prompts
// store. It is written before badger creates anything in an empty directory.
const MarkerFile = "FASTSLOW_PROMPTS"

const markerText = "fastslow prompts store\nschema "

// Options tune how a store is opened. The zero value is a good default.
type Options struct {
	// Logger receives badger's log lines (warnings and errors at their
	// level, the rest at debug). Nil keeps the store silent.
	Logger *slog.Logger
	// Small uses small memtables, tables and value-log files: for tests and
	// stores of a few thousand records. Large stores want the default.
	Small bool
	// SyncWrites makes every commit wait for fsync. Promotions and
	// rollbacks are synced regardless; other writes survive a killed
	// process either way (they are in the OS page cache) but not a power cut.
	SyncWrites bool
	// ReadOnly opens the store for reading only: nothing in the directory
	// is written (a read-only directory can be read), other processes may
	// read at the same time, and write methods fail. A directory that does
	// not exist or is empty is not created: Open fails with fs.ErrNotExist.
	ReadOnly bool
	// NoSnapshot skips the snapshot a read-write Open of a store that
	// holds records takes first (see Snapshots).
	NoSnapshot bool
}

// Store is a prompts store opened on one directory. It is safe for
// concurrent use by multiple goroutines; only one Store (in one process)
// may have a directory open at a time.
type Store struct {
	db       *badger.DB
	dir      string
	lock     io.Closer // the directory lock, when the store takes it itself
	readOnly bool
	closed   atomic.Bool

	idMu    sync.Mutex
	idNext  uint64
	idLimit uint64

	// taskLocks serializes index maintenance per task: the document
	// frequency cache below is only correct if one writer at a time
	// updates a task's index.
	taskLocks sync.Map // task name -> *sync.Mutex
	dfMu      sync.Mutex
	dfCache   map[termRef]uint64 // frequencies of terms written by this process
	stCache   map[kindRef]indexStats
	// txnSize and txnCount are badger's per-transaction limits.
	txnSize, txnCount int64
}

// Open opens the prompts store in dir, creating it if dir does not exist or
// is empty (unless opts.ReadOnly). It fails with ErrForeign for a directory
// holding anything else (including another badger database), ErrLocked when
// another process has it open, ErrCorrupt when its files fail a check
// (MANIFEST records cut or failing their checksum, tables missing, any table
// block failing its checksum, a value log or memtable log cut or failing an
// entry's checksum before its end), ErrInterrupted when table files of an
// interrupted write are present and the store is opened read-only, and
// ErrSchema for an incompatible schema; in none of these cases does it write
// to dir. A read-write Open sets such leftover table files aside (see
// LeftoverDir) instead of letting badger delete them, removes the files
// badger made when badger's open fails, and snapshots a store
// that holds records before returning it (see Snapshots).
func Open(dir string, opts *Options) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	if err := prepareDir(dir, opts.ReadOnly); err != nil {
		return nil, err
	}
	var lock io.Closer
	if ownLock {
		l, err := lockDir(dir, opts.ReadOnly)
		if err != nil {
			if errors.Is(err, ErrLocked) {
				return nil, fmt.Errorf("open %s: %w", dir, ErrLocked)
			}
			return nil, fmt.Errorf("open store %s: %w", dir, err)
		}
		lock = l
	}
	db, existed, err := openLocked(dir, opts)
	if err != nil {
		if lock != nil {
			_ = lock.Close()
		}
		return nil, err
	}
	s := &Store{db: db, dir: dir, lock: lock, readOnly: opts.ReadOnly, dfCache: map[termRef]uint64{}, stCache: map[kindRef]indexStats{}}
	s.txnSize = 15 * db.Opts().MemTableSize / 100 // as badger computes it
	s.txnCount = s.txnSize / int64(skl.MaxNodeSize)
	fail := func(err error) (*Store, error) {
		_ = s.Close()
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	if err := s.checkSchema(); err != nil {
		return fail(err)
	}
	if err := s.db.View(func(txn *badger.Txn) error {
		hw, err := getUint(txn, keySeq)
		s.idNext, s.idLimit = max(hw, 1), max(hw, 1)
		return err
	}); err != nil {
		return fail(fmt.Errorf("read id sequence: %w", err))
	}
	if !opts.ReadOnly {
		if existed && !opts.NoSnapshot {
			if _, err := s.snapshot(); err != nil {
				return fail(err)
			}
		}
		if err := s.finishImports(context.Background()); err != nil {
			return fail(err)
		}
	}
	return s, nil
}

// openLocked verifies dir and opens badger on it; the caller holds the
// directory lock. existed reports whether the store had a MANIFEST.
func openLocked(dir string, opts *Options) (*badger.DB, bool, error) {
	existed := true
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST")); errors.Is(err, fs.ErrNotExist) {
		existed = false
	}
	extra, empty, err := verifyDir(dir)
	if err != nil {
		return nil, false, fmt.Errorf("open %s: %w", dir, err)
	}
	if len(extra) > 0 || len(empty) > 0 {
		if opts.ReadOnly && len(extra) > 0 {
			return nil, false, fmt.Errorf("open %s: %w: table files not listed in the MANIFEST: %s (a killed process leaves them; "+
				"opening the store for writing sets them aside in %s)", dir, ErrInterrupted, extra, LeftoverDir(dir))
		}
		if opts.ReadOnly {
			return nil, false, fmt.Errorf("open %s: %w: empty log files %s (a process killed while it created them leaves them; "+
				"opening the store for writing sets them aside in %s)", dir, ErrInterrupted, strings.Join(empty, ", "), LeftoverDir(dir))
		}
		if err := setAside(dir, extra, empty...); err != nil {
			return nil, false, fmt.Errorf("open %s: %w", dir, err)
		}
	}
	var before map[string]bool
	if !opts.ReadOnly {
		if before, err = badgerFiles(dir); err != nil {
			return nil, false, fmt.Errorf("open store %s: %w", dir, err)
		}
	}
	db, err := badger.Open(badgerOptions(dir, opts))
	if err != nil {
		if !opts.ReadOnly {
			removeCreated(dir, before)
		}
		if !ownLock && isLockError(dir, err) {
			return nil, false, fmt.Errorf("open %s: %w", dir, ErrLocked)
		}
		if errors.Is(err, fs.ErrPermission) || strings.Contains(err.Error(), "permission denied") {
			return nil, false, fmt.Errorf("open %s for writing: %w (commands that only read can still read it)", dir, fs.ErrPermission)
		}
		// Badger's wrapping loses the error's identity; its text remains.
		if opts.ReadOnly && (errors.Is(err, badger.ErrTruncateNeeded) || strings.Contains(err.Error(), badger.ErrTruncateNeeded.Error())) {
			return nil, false, fmt.Errorf("open %s: %w: its write-ahead log was not closed by the last writer "+
				"(a killed process); opening the store for writing replays it", dir, ErrInterrupted)
		}
		return nil, false, fmt.Errorf("open %s: %w: %v", dir, ErrCorrupt, firstLine(err.Error()))
	}
	return db, existed, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// Close flushes and closes the store. Further calls return ErrClosed.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return ErrClosed
	}
	err := s.db.Close()
	if s.lock != nil {
		_ = s.lock.Close()
	}
	if err != nil {
		return fmt.Errorf("close %s: %w", s.dir, err)
	}
	return nil
}

// prepareDir checks that dir is ours (or empty, or absent) and writes the
// marker into a new store directory.
func prepareDir(dir string, readOnly bool) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist) && readOnly:
		return fmt.Errorf("open store %s: %w", dir, err)
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create store %s: %w", dir, err)
		}
		return writeMarker(dir)
	case err != nil:
		return fmt.Errorf("open store %s: %w", dir, err)
	case !fi.IsDir():
		return fmt.Errorf("open %s: %w: not a directory", dir, ErrForeign)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("open store %s: %w", dir, err)
	}
	if len(entries) == 0 {
		if readOnly {
			return fmt.Errorf("open store %s: %w (empty directory)", dir, fs.ErrNotExist)
		}
		return writeMarker(dir)
	}
	raw, err := os.ReadFile(filepath.Join(dir, MarkerFile))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("open %s: %w: no %s file among %d entries", dir, ErrForeign, MarkerFile, len(entries))
	}
	if err != nil {
		return fmt.Errorf("open store %s: %w", dir, err)
	}
	text := string(raw)
	if full := fmt.Sprintf("%s%d\n", markerText, schemaVersion); len(entries) == 1 && len(text) < len(full) &&
		strings.HasPrefix(full, text) {
		// A process killed while writing the marker of a new store (before badger made anything) leaves a
		// marker that is a strict prefix of the full text, often empty: the store holds nothing yet.
		if readOnly {
			return fmt.Errorf("open store %s: %w (its creation was interrupted before it held anything)", dir, fs.ErrNotExist)
		}
		if err := os.WriteFile(filepath.Join(dir, MarkerFile), []byte(full), 0o644); err != nil {
			return fmt.Errorf("rewrite the interrupted store marker: %w", err)
		}
		return nil
	}
	if !strings.HasPrefix(text, markerText) {
		return fmt.Errorf("open %s: %w: %s has unexpected contents", dir, ErrForeign, MarkerFile)
	}
	v, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(text, markerText)))
	if err != nil {
		return fmt.Errorf("open %s: %w: %s has no schema number", dir, ErrCorrupt, MarkerFile)
	}
	if v != schemaVersion {
		return fmt.Errorf("open %s: %w: schema %d, this build reads %d", dir, ErrSchema, v, schemaVersion)
	}
	// Badger discards table and log files its MANIFEST does not name; a
	// store whose MANIFEST went missing must not be "repaired" that way.
	hasManifest, hasData := false, false
	for _, e := range entries {
		switch name := e.Name(); {
		case name == "MANIFEST":
			hasManifest = true
		case strings.HasSuffix(name, ".sst"), strings.HasSuffix(name, ".vlog"), strings.HasSuffix(name, ".mem"):
			hasData = true
		}
	}
	if hasData && !hasManifest {
		return fmt.Errorf("open %s: %w: data files without a MANIFEST", dir, ErrCorrupt)
	}
	if readOnly && !hasManifest {
		// Badger writes the MANIFEST first: a process killed before it made a store that holds nothing yet.
		return fmt.Errorf("open store %s: %w (its creation was interrupted before it held anything)", dir, fs.ErrNotExist)
	}
	return nil
}

func writeMarker(dir string) error {
	path := filepath.Join(dir, MarkerFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return nil // another process created the store at the same moment
	}
	if err != nil {
		return fmt.Errorf("create store marker: %w", err)
	}
	_, err = fmt.Fprintf(f, "%s%d\n", markerText, schemaVersion)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write store marker: %w", err)
	}
	return nil
}

func isLockError(dir string, err error) bool {
	// Badger formats the flock error with %v, so the cause cannot be
	// unwrapped; probe the lock ourselves and fall back to its message.
	return dirLocked(dir) || strings.Contains(err.Error(), "Another process is using this Badger database")
}

func badgerOptions(dir string, o *Options) badger.Options {
	opt := badger.DefaultOptions(dir).
		WithLogger(badgerLogger{o.Logger}).
		WithSyncWrites(o.SyncWrites).
		WithNumCompactors(2).
		WithMetricsEnabled(false).
		WithValueLogFileSize(256 << 20).
		WithReadOnly(o.ReadOnly).
		WithBypassLockGuard(ownLock).
		WithChecksumVerificationMode(options.OnBlockRead).
		WithVerifyValueChecksum(true)
	if o.Small {
		opt = opt.WithMemTableSize(4 << 20).
			WithBaseTableSize(1 << 20).
			WithBaseLevelSize(4 << 20).
			WithNumMemtables(2).
			WithNumLevelZeroTables(2).
			WithNumLevelZeroTablesStall(8).
			WithValueThreshold(32 << 10).
			WithValueLogFileSize(8 << 20).
			WithBlockCacheSize(4 << 20)
	}
	return opt
}

// badgerLogger routes badger's logging to slog, or nowhere.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) log(level slog.Level, format string, args ...any) {
	if b.l != nil {
		b.l.Log(context.Background(), level, strings.TrimSpace(fmt.Sprintf(format, args...)), "component", "badger")
	}
}

// Errorf, Warningf, Infof and Debugf implement badger.Logger.
func (b badgerLogger) Errorf(f string, a ...any)   { b.log(slog.LevelError, f, a...) }
func (b badgerLogger) Warningf(f string, a ...any) { b.log(slog.LevelWarn, f, a...) }
func (b badgerLogger) Infof(f string, a ...any)    { b.log(slog.LevelDebug, f, a...) }
func (b badgerLogger) Debugf(f string, a ...any)   { b.log(slog.LevelDebug, f, a...) }

func (s *Store) checkSchema() error {
	var found bool
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(keySchema)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		raw, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		v, err := strconv.Atoi(string(raw))
		if err != nil {
			return fmt.Errorf("%w: schema record %q", ErrCorrupt, raw)
		}
		if v != schemaVersion {
			return fmt.Errorf("%w: schema %d, this build reads %d", ErrSchema, v, schemaVersion)
		}
		return nil
	})
	if err != nil || found {
		return err
	}
	if s.readOnly {
		return s.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{})
			defer it.Close()
			if it.Rewind(); it.Valid() {
				return fmt.Errorf("%w: database has records but no schema record", ErrCorrupt)
			}
			return nil
		})
	}
	// No schema record: fine for a database we just created (or whose
	// creation was interrupted before the first write), not for one with data.
	return s.db.Update(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		it.Rewind()
		empty := !it.Valid()
		it.Close()
		if !empty {
			return fmt.Errorf("%w: database has records but no schema record", ErrCorrupt)
		}
		return txn.Set(keySchema, []byte(strconv.Itoa(schemaVersion)))
	})
}

// maxConflictRetries bounds the retries of a transaction that lost an
// optimistic-concurrency race; each retry means another writer committed.
const maxConflictRetries = 200

// update runs fn in a read-write transaction, retrying on conflicts. fn must
// not have side effects outside the transaction.
func (s *Store) update(ctx context.Context, fn func(txn *badger.Txn) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if s.readOnly {
		return ErrReadOnly
	}
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := s.db.Update(fn)
		if !errors.Is(err, badger.ErrConflict) {
			return err
		}
		if attempt >= maxConflictRetries {
			return fmt.Errorf("prompts: gave up after %d conflicting transactions: %w", attempt, err)
		}
		time.Sleep(time.Duration(rand.IntN(attempt+1)+1) * 20 * time.Microsecond)
	}
}

// view runs fn in a read-only transaction.
func (s *Store) view(ctx context.Context, fn func(txn *badger.Txn) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(fn)
}

// sync forces the value log to disk; used after promotions.
func (s *Store) sync() error {
	if err := s.db.Sync(); err != nil {
		return fmt.Errorf("sync store: %w", err)
	}
	return nil
}

// idLease is how many ids one write of the sequence key reserves.
const idLease = 4096

// newIDs reserves n consecutive ids and returns the first. Ids leased but
// not used before a crash are skipped, never reused.
func (s *Store) newIDs(n int) (uint64, error) {
	if n <= 0 {
		return 0, fmt.Errorf("%w: reserve %d ids", ErrInvalid, n)
	}
	s.idMu.Lock()
	defer s.idMu.Unlock()
	if s.idNext+uint64(n) > s.idLimit {
		limit := s.idNext + uint64(n) + idLease
		if err := s.db.Update(func(txn *badger.Txn) error {
			return txn.Set(keySeq, binary.BigEndian.AppendUint64(nil, limit))
		}); err != nil {
			return 0, fmt.Errorf("lease ids: %w", err)
		}
		s.idLimit = limit
	}
	first := s.idNext
	s.idNext += uint64(n)
	return first, nil
}

// reserveThrough makes sure future ids are greater than id (after an import).
func (s *Store) reserveThrough(id uint64) error {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	if s.idNext > id {
		return nil
	}
	s.idNext = id + 1
	if s.idNext <= s.idLimit {
		return nil
	}
	limit := s.idNext + idLease
	if err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(keySeq, binary.BigEndian.AppendUint64(nil, limit))
	}); err != nil {
		return fmt.Errorf("lease ids: %w", err)
	}
	s.idLimit = limit
	return nil
}

func (s *Store) taskLock(task string) *sync.Mutex {
	if m, ok := s.taskLocks.Load(task); ok {
		return m.(*sync.Mutex)
	}
	m, _ := s.taskLocks.LoadOrStore(task, new(sync.Mutex))
	return m.(*sync.Mutex)
}

// getUint reads a big-endian uint64 value; absent keys read as 0.
func getUint(txn *badger.Txn, key []byte) (uint64, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var v uint64
	err = item.Value(func(b []byte) error {
		if len(b) != 8 {
			return fmt.Errorf("%w: value of %q has %d bytes", ErrCorrupt, key, len(b))
		}
		v = binary.BigEndian.Uint64(b)
		return nil
	})
	return v, err
}

// getJSON decodes the value under key into v; a missing key is ErrNotFound.
func getJSON(txn *badger.Txn, key []byte, v any) error {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	return item.Value(func(b []byte) error {
		if err := json.Unmarshal(b, v); err != nil {
			return fmt.Errorf("%w: record %q: %v", ErrCorrupt, key, err)
		}
		return nil
	})
}

func putJSON(txn *badger.Txn, key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %q: %w", key, err)
	}
	return txn.Set(key, b)
}

// scanJSON decodes every value under prefix, in key order, calling fn with
// a fresh value from newV.
func scanJSON[T any](txn *badger.Txn, prefix []byte, fn func(*T) error) error {
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 64, Prefix: prefix})
	defer it.Close()
	for it.Rewind(); it.ValidForPrefix(prefix); it.Next() {
		v := new(T)
		err := it.Item().Value(func(b []byte) error {
			if err := json.Unmarshal(b, v); err != nil {
				return fmt.Errorf("%w: record %q: %v", ErrCorrupt, it.Item().Key(), err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}
