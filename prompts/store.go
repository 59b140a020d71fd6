package prompts

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
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
}

// Store is a prompts store opened on one directory. It is safe for
// concurrent use by multiple goroutines; only one Store (in one process)
// may have a directory open at a time.
type Store struct {
	db     *badger.DB
	dir    string
	closed atomic.Bool

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
// is empty. It fails with ErrForeign for a directory holding anything else
// (including another badger database), ErrLocked when another process has
// it open, ErrCorrupt when its database cannot be read, and ErrSchema for
// an incompatible schema; in none of these cases does it write to dir.
func Open(dir string, opts *Options) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	if err := prepareDir(dir); err != nil {
		return nil, err
	}
	db, err := badger.Open(badgerOptions(dir, opts))
	if err != nil {
		if isLockError(dir, err) {
			return nil, fmt.Errorf("open %s: %w", dir, ErrLocked)
		}
		return nil, fmt.Errorf("open %s: %w: %v", dir, ErrCorrupt, err)
	}
	s := &Store{db: db, dir: dir, dfCache: map[termRef]uint64{}, stCache: map[kindRef]indexStats{}}
	s.txnSize = 15 * db.Opts().MemTableSize / 100 // as badger computes it
	s.txnCount = s.txnSize / int64(skl.MaxNodeSize)
	if err := s.checkSchema(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	if err := s.db.View(func(txn *badger.Txn) error {
		hw, err := getUint(txn, keySeq)
		s.idNext, s.idLimit = max(hw, 1), max(hw, 1)
		return err
	}); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open %s: read id sequence: %w", dir, err)
	}
	return s, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// Close flushes and closes the store. Further calls return ErrClosed.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return ErrClosed
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close %s: %w", s.dir, err)
	}
	return nil
}

// prepareDir checks that dir is ours (or empty, or absent) and writes the
// marker into a new store directory.
func prepareDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
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
	if err := checkTables(dir); err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
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
		WithValueLogFileSize(256 << 20)
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
