package prompts

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/skl"
)

// BM25 parameters (the usual defaults).
const (
	bm25K1 = 1.2
	bm25B  = 0.75
	// maxTermBytes drops tokens that are more likely junk than words.
	maxTermBytes = 48
)

// stopwords are dropped from documents and queries: they match nearly
// every document and would only lengthen posting scans.
var stopwords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a an and are as at be but by for from had has have he her his i if in into
		is it its me my no not of on or our she so than that the their them then there these they this to
		was we were what when which who will with would you your s t d ll m re ve do does did been being
		than too very can just all any also am him how our out up`) {
		m[w] = true
	}
	return m
}()

// Tokenize splits text into the lower-case terms the index uses: runs of
// letters and digits, without stopwords. It is exported so that callers can
// see what a query will match.
func Tokenize(text string) []string {
	var terms []string
	var buf []byte
	flush := func() {
		if len(buf) > 0 && len(buf) <= maxTermBytes && !stopwords[string(buf)] {
			terms = append(terms, string(buf))
		}
		buf = buf[:0]
	}
	for _, r := range text {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			buf = utf8.AppendRune(buf, unicode.ToLower(r))
			continue
		}
		flush()
	}
	flush()
	return terms
}

// bm25Weight is BM25's term-frequency component for a document of length dl
// in a collection whose average length is avgdl.
func bm25Weight(tf, dl int, avgdl float64) float64 {
	if avgdl <= 0 {
		avgdl = 1
	}
	norm := bm25K1 * (1 - bm25B + bm25B*float64(dl)/avgdl)
	return float64(tf) * (bm25K1 + 1) / (float64(tf) + norm)
}

// quantize maps a BM25 weight in (0, k1+1) to 1..65535.
func quantize(w float64) uint16 {
	q := math.Round(w / (bm25K1 + 1) * 65535)
	return uint16(min(max(q, 1), 65535))
}

func dequantize(q uint16) float64 { return float64(q) / 65535 * (bm25K1 + 1) }

// idf is BM25's inverse document frequency (always positive).
func idf(df, n uint64) float64 {
	if df > n {
		n = df
	}
	return math.Log(1 + (float64(n)-float64(df)+0.5)/(float64(df)+0.5))
}

type indexStats struct{ Docs, Length uint64 }

func decodeStats(b []byte) (indexStats, error) {
	d, n := binary.Uvarint(b)
	if n <= 0 {
		return indexStats{}, fmt.Errorf("%w: index statistics", ErrCorrupt)
	}
	l, m := binary.Uvarint(b[n:])
	if m <= 0 {
		return indexStats{}, fmt.Errorf("%w: index statistics", ErrCorrupt)
	}
	return indexStats{d, l}, nil
}

func (st indexStats) encode() []byte {
	return binary.AppendUvarint(binary.AppendUvarint(nil, st.Docs), st.Length)
}

// termImpact is one term of a document with its quantized weight.
type termImpact struct {
	term   string
	impact uint16
}

// forward is a document's forward entry: its length and term impacts,
// used to remove it from the index and to score it exactly.
type forward struct {
	dl    uint64
	terms []termImpact
}

func (f forward) encode() []byte {
	b := binary.AppendUvarint(nil, f.dl)
	b = binary.AppendUvarint(b, uint64(len(f.terms)))
	for _, t := range f.terms {
		b = binary.AppendUvarint(b, uint64(len(t.term)))
		b = append(b, t.term...)
		b = binary.BigEndian.AppendUint16(b, t.impact)
	}
	return b
}

func decodeForward(b []byte) (forward, error) {
	bad := fmt.Errorf("%w: forward index entry", ErrCorrupt)
	dl, n := binary.Uvarint(b)
	if n <= 0 {
		return forward{}, bad
	}
	b = b[n:]
	cnt, n := binary.Uvarint(b)
	if n <= 0 || cnt > uint64(len(b)) {
		return forward{}, bad
	}
	b = b[n:]
	f := forward{dl: dl, terms: make([]termImpact, 0, cnt)}
	for range cnt {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l+2 {
			return forward{}, bad
		}
		b = b[n:]
		f.terms = append(f.terms, termImpact{string(b[:l]), binary.BigEndian.Uint16(b[l:])})
		b = b[l+2:]
	}
	return f, nil
}

// indexer collects the index changes of one transaction for one task. The
// caller holds the task's lock, so the store's frequency cache cannot change
// underneath it; commit publishes the new values once the transaction has
// committed.
type indexer struct {
	s       *Store
	task    string
	df      map[string]uint64 // dfKey -> df after this transaction
	st      map[Kind]indexStats
	entries int // badger entries written so far in this transaction
	bytes   int
}

func (s *Store) newIndexer(task string) *indexer {
	return &indexer{s: s, task: task, df: map[string]uint64{}, st: map[Kind]indexStats{}}
}

func (ix *indexer) set(txn *badger.Txn, key, val []byte) error {
	ix.entries++
	ix.bytes += len(key) + len(val) + 32
	return txn.Set(key, val)
}

func (ix *indexer) del(txn *badger.Txn, key []byte) error {
	ix.entries++
	ix.bytes += len(key) + 32
	return txn.Delete(key)
}

func (ix *indexer) stats(txn *badger.Txn, k Kind) (indexStats, error) {
	if st, ok := ix.st[k]; ok {
		return st, nil
	}
	key := statsKey(ix.task, k)
	ix.s.dfMu.Lock()
	st, ok := ix.s.stCache[string(key)]
	ix.s.dfMu.Unlock()
	if ok {
		return st, nil
	}
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return indexStats{}, nil
	}
	if err != nil {
		return indexStats{}, err
	}
	err = item.Value(func(b []byte) error {
		st, err = decodeStats(b)
		return err
	})
	return st, err
}

func (ix *indexer) docFreq(txn *badger.Txn, key []byte) (uint64, error) {
	if df, ok := ix.df[string(key)]; ok {
		return df, nil
	}
	ix.s.dfMu.Lock()
	df, ok := ix.s.dfCache[string(key)]
	ix.s.dfMu.Unlock()
	if ok {
		return df, nil
	}
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	err = item.Value(func(b []byte) error {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return fmt.Errorf("%w: document frequency %q", ErrCorrupt, key)
		}
		df = v
		return nil
	})
	return df, err
}

// add indexes text as document id of kind k.
func (ix *indexer) add(txn *badger.Txn, k Kind, id uint64, text string) error {
	terms := Tokenize(text)
	tf := map[string]int{}
	for _, t := range terms {
		tf[t]++
	}
	st, err := ix.stats(txn, k)
	if err != nil {
		return err
	}
	st.Docs++
	st.Length += uint64(len(terms))
	ix.st[k] = st
	avgdl := float64(st.Length) / float64(st.Docs)
	fw := forward{dl: uint64(len(terms)), terms: make([]termImpact, 0, len(tf))}
	for _, t := range terms {
		n, ok := tf[t]
		if !ok {
			continue // already indexed
		}
		delete(tf, t)
		imp := quantize(bm25Weight(n, len(terms), avgdl))
		fw.terms = append(fw.terms, termImpact{t, imp})
		if err := ix.set(txn, postingKey(ix.task, k, t, imp, id), nil); err != nil {
			return err
		}
		key := dfKey(ix.task, k, t)
		df, err := ix.docFreq(txn, key)
		if err != nil {
			return err
		}
		ix.df[string(key)] = df + 1
	}
	return ix.set(txn, forwardKey(ix.task, k, id), fw.encode())
}

// remove drops document id of kind k from the index; absent documents are
// ignored.
func (ix *indexer) remove(txn *badger.Txn, k Kind, id uint64) error {
	fkey := forwardKey(ix.task, k, id)
	item, err := txn.Get(fkey)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var fw forward
	if err := item.Value(func(b []byte) error { fw, err = decodeForward(b); return err }); err != nil {
		return err
	}
	for _, t := range fw.terms {
		if err := ix.del(txn, postingKey(ix.task, k, t.term, t.impact, id)); err != nil {
			return err
		}
		key := dfKey(ix.task, k, t.term)
		df, err := ix.docFreq(txn, key)
		if err != nil {
			return err
		}
		if df > 0 {
			df--
		}
		ix.df[string(key)] = df
	}
	st, err := ix.stats(txn, k)
	if err != nil {
		return err
	}
	if st.Docs > 0 {
		st.Docs--
	}
	st.Length -= min(st.Length, fw.dl)
	ix.st[k] = st
	return ix.del(txn, fkey)
}

// flush writes the frequencies and statistics changed by this transaction.
func (ix *indexer) flush(txn *badger.Txn) error {
	for key, df := range ix.df {
		var err error
		if df == 0 {
			err = ix.del(txn, []byte(key))
		} else {
			err = ix.set(txn, []byte(key), binary.AppendUvarint(nil, df))
		}
		if err != nil {
			return err
		}
	}
	for k, st := range ix.st {
		if err := ix.set(txn, statsKey(ix.task, k), st.encode()); err != nil {
			return err
		}
	}
	return nil
}

// forgetTask drops the cached frequencies and statistics of task.
func (s *Store) forgetTask(task string) {
	s.dfMu.Lock()
	defer s.dfMu.Unlock()
	for _, pfx := range []string{pfxDF, pfxStats} {
		p := string(taskPrefix(pfx, task))
		for key := range s.dfCache {
			if strings.HasPrefix(key, p) {
				delete(s.dfCache, key)
			}
		}
		for key := range s.stCache {
			if strings.HasPrefix(key, p) {
				delete(s.stCache, key)
			}
		}
	}
}

// commit publishes this transaction's values to the store's cache; call it
// only after the transaction committed.
func (ix *indexer) commit() {
	ix.s.dfMu.Lock()
	defer ix.s.dfMu.Unlock()
	for key, df := range ix.df {
		ix.s.dfCache[key] = df
	}
	for k, st := range ix.st {
		ix.s.stCache[string(statsKey(ix.task, k))] = st
	}
}

// full reports whether the transaction should be committed before another
// document of about n terms is added. It leaves room for the frequency
// updates that flush will write.
func (ix *indexer) full(n int) bool {
	opt := ix.s.db.Opts()
	maxSize := 15 * opt.MemTableSize / 100
	maxCount := maxSize / int64(skl.MaxNodeSize)
	entries := int64(ix.entries + len(ix.df) + len(ix.st) + 3*n + 8)
	bytes := int64(ix.bytes + 64*(len(ix.df)+3*n) + 4096)
	return entries >= maxCount*8/10 || bytes >= maxSize*8/10
}

// writeChunked runs write(txn, ix, i) for i in [0, n) under the task's lock,
// committing whenever a transaction fills up. Each committed chunk is
// atomic: records, postings and frequencies together. size(i) estimates
// item i's term count. A conflict retries the current chunk.
func (s *Store) writeChunked(ctx context.Context, task string, n int, size func(i int) int,
	write func(txn *badger.Txn, ix *indexer, i int) error) error {
	return s.chunked(ctx, task, true, n, size, write)
}

// chunked is writeChunked; needTask false skips the check that the task
// exists (imports write the task record last).
func (s *Store) chunked(ctx context.Context, task string, needTask bool, n int, size func(i int) int,
	write func(txn *badger.Txn, ix *indexer, i int) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	mu := s.taskLock(task)
	mu.Lock()
	defer mu.Unlock()
	for start := 0; start < n; {
		if err := ctx.Err(); err != nil {
			return err
		}
		var end int
		var ix *indexer
		err := s.update(ctx, func(txn *badger.Txn) error {
			ix = s.newIndexer(task)
			if needTask {
				if err := requireTask(txn, task); err != nil {
					return err
				}
			}
			end = start
			for end < n && (end == start || !ix.full(size(end))) {
				if err := write(txn, ix, end); err != nil {
					return fmt.Errorf("item %d: %w", end, err)
				}
				end++
			}
			return ix.flush(txn)
		})
		if err != nil {
			return err
		}
		ix.commit()
		start = end
	}
	return nil
}

// Reindex rebuilds the index of kind k for task, recomputing every
// posting's length normalization with the current average length.
func (s *Store) Reindex(ctx context.Context, task string, k Kind) error {
	if !k.valid() {
		return fmt.Errorf("reindex: %w: kind %v", ErrInvalid, k)
	}
	type doc struct {
		id   uint64
		text string
	}
	var docs []doc
	err := s.view(ctx, func(txn *badger.Txn) error {
		if err := requireTask(txn, task); err != nil {
			return err
		}
		return scanDocs(txn, task, k, func(id uint64, text string, pending bool) error {
			if !pending {
				docs = append(docs, doc{id, text})
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("reindex %s %ss: %w", task, k, err)
	}
	// Each document is removed and re-added in the same transaction, so
	// an interrupted reindex leaves every document searchable.
	if err := s.writeChunked(ctx, task, len(docs), func(i int) int { return 2 * (len(docs[i].text)/4 + 1) },
		func(txn *badger.Txn, ix *indexer, i int) error {
			if err := ix.remove(txn, k, docs[i].id); err != nil {
				return err
			}
			return ix.add(txn, k, docs[i].id, docs[i].text)
		}); err != nil {
		return fmt.Errorf("reindex %s %ss: %w", task, k, err)
	}
	return nil
}
