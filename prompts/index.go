package prompts

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	badger "github.com/dgraph-io/badger/v4"
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

// termRef names one term of one kind's index in a task.
type termRef struct {
	task string
	kind Kind
	term string
}

// kindRef names one kind's index in a task.
type kindRef struct {
	task string
	kind Kind
}

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
// used to remove the document from the index and to score it exactly.
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
	var f forward
	var n int
	if f.dl, n = binary.Uvarint(b); n <= 0 {
		return f, bad
	}
	b = b[n:]
	cnt, n := binary.Uvarint(b)
	if n <= 0 || cnt > uint64(len(b)) {
		return forward{}, bad
	}
	b = b[n:]
	f.terms = make([]termImpact, 0, cnt)
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

// posting is one entry of a chunk.
type posting struct {
	doc    uint64
	impact uint16
}

// Postings are grouped into 64 levels by impact; a term's chunks sort by
// descending level, so its keys are read roughly best-first. Coarse levels
// keep chunks large; a search still scores every posting with its exact
// impact and uses the level only as a bound for what is unread.
const levelShift = 10

func level(impact uint16) byte { return byte(impact >> levelShift) }

// levelMax is the largest impact a chunk of level l can hold: the bound a
// search uses for a term's unread postings.
func levelMax(l byte) uint16 { return uint16(l)<<levelShift | (1<<levelShift - 1) }

// levelPrefix is the prefix of a term's chunks of one level.
func levelPrefix(task string, k Kind, term string, lvl byte) []byte {
	return append(termPrefix(task, k, term), 0xff-lvl)
}

// chunkKey names a chunk by its smallest document id. Chunks of one term
// and level written by different transactions cover disjoint id ranges
// (ids are leased in increasing blocks), so the chunk holding a document is
// normally the last one whose first id is not above it.
func chunkKey(task string, k Kind, term string, lvl byte, first uint64) []byte {
	return binary.BigEndian.AppendUint64(levelPrefix(task, k, term, lvl), first)
}

// maxChunk is the size Compact merges chunks up to.
const maxChunk = 1024

// encodeChunk writes postings sorted by doc: count, then (doc delta, impact).
func encodeChunk(ps []posting) []byte {
	slices.SortFunc(ps, func(a, b posting) int { return cmp.Compare(a.doc, b.doc) })
	b := binary.AppendUvarint(make([]byte, 0, 4*len(ps)+4), uint64(len(ps)))
	var prev uint64
	for _, p := range ps {
		b = binary.AppendUvarint(b, p.doc-prev)
		b = binary.BigEndian.AppendUint16(b, p.impact)
		prev = p.doc
	}
	return b
}

// appendChunk appends the postings of an encoded chunk to ps.
func appendChunk(ps []posting, b []byte) ([]posting, error) {
	n, m := binary.Uvarint(b)
	if m <= 0 || n > uint64(len(b)) {
		return ps, fmt.Errorf("%w: posting chunk", ErrCorrupt)
	}
	b = b[m:]
	var doc uint64
	for range n {
		d, m := binary.Uvarint(b)
		if m <= 0 || len(b) < m+2 {
			return ps, fmt.Errorf("%w: posting chunk", ErrCorrupt)
		}
		doc += d
		ps = append(ps, posting{doc, binary.BigEndian.Uint16(b[m:])})
		b = b[m+2:]
	}
	return ps, nil
}

// decodeChunk calls fn for every posting of an encoded chunk.
func decodeChunk(b []byte, fn func(doc uint64, impact uint16)) error {
	n, m := binary.Uvarint(b)
	if m <= 0 || n > uint64(len(b)) {
		return fmt.Errorf("%w: posting chunk", ErrCorrupt)
	}
	b = b[m:]
	var doc uint64
	for range n {
		d, m := binary.Uvarint(b)
		if m <= 0 || len(b) < m+2 {
			return fmt.Errorf("%w: posting chunk", ErrCorrupt)
		}
		doc += d
		fn(doc, binary.BigEndian.Uint16(b[m:]))
		b = b[m+2:]
	}
	return nil
}

type chunkID struct {
	kind  Kind
	term  string
	level byte
}

// indexer collects the index changes of one transaction for one task. The
// caller holds the task's lock, so the store's frequency cache cannot change
// underneath it; commit publishes the new values once the transaction has
// committed. New postings are grouped into one chunk per (term, level) per
// transaction, so a batch of documents costs a few keys per distinct term
// rather than one key per posting.
type indexer struct {
	s       *Store
	task    string
	fresh   map[chunkID][]posting // new chunks
	dirty   map[string][]posting  // existing chunks with removals, by key
	df      map[termRef]uint64    // document frequencies after this transaction
	st      map[Kind]indexStats
	entries int // badger entries written so far in this transaction
	bytes   int
}

func (s *Store) newIndexer(task string) *indexer {
	return &indexer{s: s, task: task, fresh: map[chunkID][]posting{}, dirty: map[string][]posting{},
		df: map[termRef]uint64{}, st: map[Kind]indexStats{}}
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
	ix.s.dfMu.Lock()
	st, ok := ix.s.stCache[kindRef{ix.task, k}]
	ix.s.dfMu.Unlock()
	if ok {
		return st, nil
	}
	return readStats(txn, ix.task, k)
}

func (ix *indexer) docFreq(txn *badger.Txn, ref termRef) (uint64, error) {
	if df, ok := ix.df[ref]; ok {
		return df, nil
	}
	ix.s.dfMu.Lock()
	df, ok := ix.s.dfCache[ref]
	ix.s.dfMu.Unlock()
	if ok {
		return df, nil
	}
	return readDF(txn, dfKey(ref.task, ref.kind, ref.term))
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
		cid := chunkID{k, t, level(imp)}
		ix.fresh[cid] = append(ix.fresh[cid], posting{id, imp})
		ix.bytes += 4
		ref := termRef{ix.task, k, t}
		df, err := ix.docFreq(txn, ref)
		if err != nil {
			return err
		}
		ix.df[ref] = df + 1
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
		if err := ix.dropPosting(txn, k, t, id); err != nil {
			return err
		}
		ref := termRef{ix.task, k, t.term}
		df, err := ix.docFreq(txn, ref)
		if err != nil {
			return err
		}
		if df > 0 {
			df--
		}
		ix.df[ref] = df
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

// dropPosting removes doc from the chunk that holds its posting of t.
func (ix *indexer) dropPosting(txn *badger.Txn, k Kind, t termImpact, doc uint64) error {
	has := func(ps []posting) bool {
		return slices.ContainsFunc(ps, func(p posting) bool { return p.doc == doc })
	}
	without := func(ps []posting) []posting {
		return slices.DeleteFunc(ps, func(p posting) bool { return p.doc == doc })
	}
	lvl := level(t.impact)
	cid := chunkID{k, t.term, lvl}
	if has(ix.fresh[cid]) {
		ix.fresh[cid] = without(ix.fresh[cid])
		return nil
	}
	// The last chunk starting at or below doc holds it, unless ranges
	// overlap (a pending note activated late); then look at every chunk.
	prefix := levelPrefix(ix.task, k, t.term, lvl)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, Reverse: true})
	defer it.Close()
	var keys [][]byte
	it.Seek(chunkKey(ix.task, k, t.term, lvl, doc))
	if it.ValidForPrefix(prefix) {
		keys = append(keys, it.Item().KeyCopy(nil))
	}
	for i := 0; ; i++ {
		for _, key := range keys {
			ps, err := ix.loadChunk(txn, key)
			if err != nil {
				return err
			}
			if has(ps) {
				ix.dirty[string(key)] = without(ps)
				return nil
			}
		}
		if i > 0 {
			return nil // not indexed under this term: nothing to drop
		}
		keys = keys[:0]
		for it.Rewind(); it.ValidForPrefix(prefix); it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil))
		}
	}
}

// loadChunk returns a chunk's postings, from this transaction's changes if
// it has any.
func (ix *indexer) loadChunk(txn *badger.Txn, key []byte) ([]posting, error) {
	if ps, ok := ix.dirty[string(key)]; ok {
		return ps, nil
	}
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ps []posting
	err = item.Value(func(b []byte) error {
		return decodeChunk(b, func(d uint64, imp uint16) { ps = append(ps, posting{d, imp}) })
	})
	ix.bytes += 4 * len(ps)
	return ps, err
}

// flush writes the chunks, frequencies and statistics changed by this
// transaction.
func (ix *indexer) flush(txn *badger.Txn) error {
	for cid, ps := range ix.fresh {
		if len(ps) == 0 {
			continue
		}
		first := slices.MinFunc(ps, func(a, b posting) int { return cmp.Compare(a.doc, b.doc) }).doc
		key := chunkKey(ix.task, cid.kind, cid.term, cid.level, first)
		if old, ok := ix.dirty[string(key)]; ok {
			// A chunk emptied of a re-added document shares the key.
			ix.dirty[string(key)] = append(old, ps...)
			continue
		}
		if err := ix.set(txn, key, encodeChunk(ps)); err != nil {
			return err
		}
	}
	for key, ps := range ix.dirty {
		var err error
		if len(ps) == 0 {
			err = ix.del(txn, []byte(key))
		} else {
			err = ix.set(txn, []byte(key), encodeChunk(ps))
		}
		if err != nil {
			return err
		}
	}
	for ref, df := range ix.df {
		key := dfKey(ref.task, ref.kind, ref.term)
		var err error
		if df == 0 {
			err = ix.del(txn, key)
		} else {
			err = ix.set(txn, key, binary.AppendUvarint(nil, df))
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
	for ref := range s.dfCache {
		if ref.task == task {
			delete(s.dfCache, ref)
		}
	}
	for ref := range s.stCache {
		if ref.task == task {
			delete(s.stCache, ref)
		}
	}
}

// commit publishes this transaction's values to the store's cache; call it
// only after the transaction committed.
func (ix *indexer) commit() {
	ix.s.dfMu.Lock()
	defer ix.s.dfMu.Unlock()
	for ref, df := range ix.df {
		ix.s.dfCache[ref] = df
	}
	for k, st := range ix.st {
		ix.s.stCache[kindRef{ix.task, k}] = st
	}
}

// full reports whether the transaction should be committed before another
// document of about n terms is added. It leaves room for the frequency
// updates that flush will write.
func (ix *indexer) full(n int) bool {
	maxSize, maxCount := ix.s.txnSize, ix.s.txnCount
	pending := len(ix.fresh) + len(ix.dirty) + len(ix.df) + len(ix.st)
	entries := int64(ix.entries + pending + 3*n + 8)
	bytes := int64(ix.bytes + 80*(pending+3*n) + 4096)
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
					if n == 1 {
						return err // one item: its error says it all
					}
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

// Compact merges each term's small posting chunks (consecutive chunks of
// one level) into chunks of up to maxChunk postings, for every kind of the
// task, then compacts the whole database so that the replaced chunks stop
// costing reads. Indexes grown by many small batches are read faster
// afterwards; results do not change. Each merge is one transaction, so an
// interrupted Compact leaves a valid index. It is maintenance: slow on a
// large store, and it holds the task's index lock while it merges.
func (s *Store) Compact(ctx context.Context, task string) error {
	for _, k := range []Kind{KindNote, KindDemo, KindLesson} {
		if err := s.compactKind(ctx, task, k); err != nil {
			return err
		}
	}
	if err := s.db.Flatten(1); err != nil {
		return fmt.Errorf("compact %s: flatten: %w", task, err)
	}
	return nil
}

func (s *Store) compactKind(ctx context.Context, task string, k Kind) error {
	mu := s.taskLock(task)
	mu.Lock()
	defer mu.Unlock()
	type group struct {
		keys [][]byte
		n    int
	}
	var pending []group
	apply := func() error {
		if len(pending) == 0 {
			return nil
		}
		err := s.update(ctx, func(txn *badger.Txn) error {
			for _, g := range pending {
				var all []posting
				for _, key := range g.keys {
					item, err := txn.Get(key)
					if err != nil {
						return err
					}
					if err := item.Value(func(b []byte) error {
						return decodeChunk(b, func(d uint64, imp uint16) { all = append(all, posting{d, imp}) })
					}); err != nil {
						return err
					}
				}
				for _, key := range g.keys[1:] {
					if err := txn.Delete(key); err != nil {
						return err
					}
				}
				if err := txn.Set(g.keys[0], encodeChunk(all)); err != nil {
					return err
				}
			}
			return nil
		})
		pending = pending[:0]
		return err
	}
	prefix := kindPrefix(pfxPosting, task, k)
	var cur group
	var curPrefix []byte
	entries, size := 0, 0
	flush := func() error {
		if len(cur.keys) > 1 {
			pending = append(pending, cur)
			entries += len(cur.keys)
			size += 64*len(cur.keys) + 4*cur.n
		}
		cur = group{}
		if int64(entries) > s.txnCount/2 || int64(size) > s.txnSize/2 {
			entries, size = 0, 0
			return apply()
		}
		return nil
	}
	err := s.view(ctx, func(txn *badger.Txn) error {
		if err := requireTask(txn, task); err != nil {
			return err
		}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.ValidForPrefix(prefix); it.Next() {
			key := it.Item().Key()
			if len(key) < len(prefix)+10 {
				return fmt.Errorf("%w: posting key %q", ErrCorrupt, key)
			}
			lp := key[:len(key)-8] // term, separator and level
			var n uint64
			if err := it.Item().Value(func(b []byte) error {
				var m int
				n, m = binary.Uvarint(b)
				if m <= 0 {
					return fmt.Errorf("%w: posting chunk %q", ErrCorrupt, key)
				}
				return nil
			}); err != nil {
				return err
			}
			if !bytes.Equal(lp, curPrefix) || cur.n+int(n) > maxChunk {
				if err := flush(); err != nil {
					return err
				}
				curPrefix = append(curPrefix[:0], lp...)
			}
			cur.keys = append(cur.keys, it.Item().KeyCopy(nil))
			cur.n += int(n)
		}
		if err := flush(); err != nil {
			return err
		}
		return apply()
	})
	if err != nil {
		return fmt.Errorf("compact %s %ss: %w", task, k, err)
	}
	return nil
}
