package prompts

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	badger "github.com/dgraph-io/badger/v4"
)

// DefaultMaxPostings bounds the postings one query reads, which bounds its
// latency (a few milliseconds with a million notes). Most queries settle
// exactly well before it; those that do not (several common terms) get an
// anytime answer: the most promising candidates of the impact-ordered scan,
// rescored exactly. On a million notes of English prose this returned 99%
// of the exhaustive top 10 (see BenchmarkRetrieve1M).
const DefaultMaxPostings = 50_000

// maxQueryTerms bounds the distinct terms of a query that are scored; the
// rarest (most informative) are kept.
const maxQueryTerms = 32

// Hit is one search result: a record id and its BM25 score.
type Hit struct {
	ID    uint64  `json:"id"`
	Score float64 `json:"score"`
}

// searchStats describes how a query was answered.
type searchStats struct {
	Postings int  // postings read
	Exact    bool // false when MaxPostings stopped the scan
	Lookups  int  // forward entries read to complete scores
	Chunks   int  // posting chunks read
}

// Search returns the top k records of kind kd in task for query, by BM25,
// best first (ties by id). Pending notes are not searchable.
func (s *Store) Search(ctx context.Context, task string, kd Kind, query string, k int) ([]Hit, error) {
	hits, _, err := s.search(ctx, task, kd, query, k, DefaultMaxPostings)
	return hits, err
}

func (s *Store) search(ctx context.Context, task string, kd Kind, query string, k, maxPostings int) ([]Hit, searchStats, error) {
	var hits []Hit
	var st searchStats
	if !kd.valid() {
		return nil, st, fmt.Errorf("search: %w: kind %v", ErrInvalid, kd)
	}
	if k <= 0 {
		return nil, st, nil
	}
	err := s.view(ctx, func(txn *badger.Txn) error {
		if err := requireTask(txn, task); err != nil {
			return err
		}
		var err error
		hits, st, err = searchTxn(txn, task, kd, Tokenize(query), k, maxPostings)
		return err
	})
	if err != nil {
		return nil, st, fmt.Errorf("search %s %ss: %w", task, kd, err)
	}
	return hits, st, nil
}

// cursor walks one term's posting chunks in descending level order.
type cursor struct {
	it     *badger.Iterator
	prefix []byte
	idf    float64
	bit    uint32
	// bound is the largest weighted impact any unread posting of the term
	// can have (from the current chunk's level); 0 when the term is done.
	bound float64
	done  bool
	buf   []posting
}

func (c *cursor) load() error {
	if !c.it.ValidForPrefix(c.prefix) {
		c.done, c.bound = true, 0
		return nil
	}
	key := c.it.Item().Key()
	if len(key) != len(c.prefix)+9 {
		return fmt.Errorf("%w: posting key %q", ErrCorrupt, key)
	}
	c.bound = c.idf * dequantize(levelMax(0xff-key[len(c.prefix)]))
	return nil
}

// read returns the current chunk's postings (valid until the next read)
// and moves on.
func (c *cursor) read() ([]posting, error) {
	err := c.it.Item().Value(func(b []byte) error {
		var err error
		c.buf, err = appendChunk(c.buf[:0], b)
		return err
	})
	if err != nil {
		return nil, err
	}
	c.it.Next()
	return c.buf, c.load()
}

// accums holds partial scores (lower bounds) and the terms seen per
// document, with a min-heap of the k best so the threshold is always at hand.
type accums struct {
	index  docTable
	ids    []uint64
	scores []float64
	masks  []uint32
	live   []bool
	pos    []int32 // position in heap, -1 if not there
	heap   []int32
	k      int
	nlive  int
	// closed is set once no unseen document can enter the top k.
	closed bool
}

// accumPool recycles accumulators: a query touches tens of thousands of
// documents, and allocating (and zeroing) that much per query cost more
// than scoring.
var accumPool = sync.Pool{New: func() any { return &accums{index: newDocTable(1 << 14)} }}

func getAccums(k int) *accums {
	a := accumPool.Get().(*accums)
	clear(a.index.keys)
	a.index.n = 0
	a.ids, a.scores, a.masks, a.live, a.pos = a.ids[:0], a.scores[:0], a.masks[:0], a.live[:0], a.pos[:0]
	a.heap = a.heap[:0]
	a.k, a.nlive, a.closed = k, 0, false
	return a
}

// worse orders accumulators: lower score, then higher id, is worse.
func (a *accums) worse(i, j int32) bool {
	if a.scores[i] != a.scores[j] {
		return a.scores[i] < a.scores[j]
	}
	return a.ids[i] > a.ids[j]
}

func (a *accums) swap(x, y int) {
	a.heap[x], a.heap[y] = a.heap[y], a.heap[x]
	a.pos[a.heap[x]], a.pos[a.heap[y]] = int32(x), int32(y)
}

func (a *accums) up(x int) {
	for x > 0 {
		p := (x - 1) / 2
		if !a.worse(a.heap[x], a.heap[p]) {
			return
		}
		a.swap(x, p)
		x = p
	}
}

func (a *accums) down(x int) {
	for {
		l := 2*x + 1
		if l >= len(a.heap) {
			return
		}
		m := l
		if r := l + 1; r < len(a.heap) && a.worse(a.heap[r], a.heap[l]) {
			m = r
		}
		if !a.worse(a.heap[m], a.heap[x]) {
			return
		}
		a.swap(x, m)
		x = m
	}
}

func (a *accums) add(doc uint64, w float64, bit uint32) {
	i, ok := a.index.get(doc)
	if ok && !a.live[i] || !ok && a.closed {
		return // it can no longer reach the top k
	}
	if !ok {
		i = int32(len(a.ids))
		a.index.put(doc, i)
		a.ids = append(a.ids, doc)
		a.scores = append(a.scores, 0)
		a.masks = append(a.masks, 0)
		a.live = append(a.live, true)
		a.pos = append(a.pos, -1)
		a.nlive++
	}
	a.scores[i] += w
	a.masks[i] |= bit
	switch {
	case a.pos[i] >= 0:
		a.down(int(a.pos[i])) // a better score sinks away from the root
	case len(a.heap) < a.k:
		a.heap = append(a.heap, i)
		a.pos[i] = int32(len(a.heap) - 1)
		a.up(len(a.heap) - 1)
	case a.worse(a.heap[0], i):
		a.pos[a.heap[0]] = -1
		a.heap[0] = i
		a.pos[i] = 0
		a.down(0)
	}
}

// theta is the k-th best lower bound, and whether k documents were seen.
func (a *accums) theta() (float64, bool) {
	if len(a.heap) < a.k {
		return 0, false
	}
	return a.scores[a.heap[0]], true
}

// drop forgets accumulator i (it can no longer reach the top k). Its
// slot stays, so that later postings of the document are ignored too.
func (a *accums) drop(i int) {
	a.live[i] = false
	a.nlive--
}

// docTable maps document ids to accumulator indexes: open addressing with
// linear probing, faster than a Go map for this one hot loop. Id 0 marks an
// empty slot (record ids start at 1).
type docTable struct {
	keys  []uint64
	vals  []int32
	n     int
	shift uint
}

func newDocTable(capacity int) docTable {
	size, shift := 1, uint(64)
	for size < 2*capacity {
		size <<= 1
		shift--
	}
	return docTable{keys: make([]uint64, size), vals: make([]int32, size), shift: shift}
}

func (t *docTable) slot(k uint64) uint64 { return (k * 0x9e3779b97f4a7c15) >> t.shift }

func (t *docTable) get(k uint64) (int32, bool) {
	mask := uint64(len(t.keys) - 1)
	for i := t.slot(k); ; i = (i + 1) & mask {
		switch t.keys[i] {
		case k:
			return t.vals[i], true
		case 0:
			return 0, false
		}
	}
}

func (t *docTable) put(k uint64, v int32) {
	if 2*(t.n+1) > len(t.keys) {
		old := *t
		*t = newDocTable(len(old.keys))
		for i, key := range old.keys {
			if key != 0 {
				t.put(key, old.vals[i])
			}
		}
	}
	mask := uint64(len(t.keys) - 1)
	i := t.slot(k)
	for t.keys[i] != 0 && t.keys[i] != k {
		i = (i + 1) & mask
	}
	if t.keys[i] == 0 {
		t.n++
	}
	t.keys[i], t.vals[i] = k, v
}

// top returns the indexes of the m live accumulators with the best lower
// bounds, best first (ties by document id).
func (a *accums) top(m int) []int {
	better := func(x, y int) int {
		if c := cmp.Compare(a.scores[y], a.scores[x]); c != 0 {
			return c
		}
		return cmp.Compare(a.ids[x], a.ids[y])
	}
	win := make([]int, 0, m+1)
	for i := range a.ids {
		if !a.live[i] || len(win) == m && better(i, win[m-1]) >= 0 {
			continue
		}
		j, _ := slices.BinarySearchFunc(win, i, better)
		win = slices.Insert(win, j, i)
		if len(win) > m {
			win = win[:m]
		}
	}
	return win
}

// searchTxn is the top-k algorithm: score-at-a-time over impact-ordered
// postings with no random access while scanning (NRA). It always reads the
// chunk with the largest bound next, keeps partial scores (lower bounds) per
// document, and stops once (a) no unseen document can beat the k-th best
// lower bound and (b) no seen document outside the current top k can
// either, given the bound of each term it has not been seen in. The top k
// documents still missing terms then get exact scores from their forward
// entries. Documents tied at the k-th score may be cut either way, but
// always the same way for the same store and query.
func searchTxn(txn *badger.Txn, task string, kd Kind, terms []string, k, maxPostings int) ([]Hit, searchStats, error) {
	var st searchStats
	stats, err := readStats(txn, task, kd)
	if err != nil || stats.Docs == 0 {
		return nil, searchStats{Exact: true}, err
	}
	type qterm struct {
		term string
		idf  float64
	}
	var qts []qterm
	seen := map[string]bool{}
	for _, t := range terms {
		if seen[t] {
			continue
		}
		seen[t] = true
		df, err := readDF(txn, dfKey(task, kd, t))
		if err != nil {
			return nil, st, err
		}
		if df > 0 {
			qts = append(qts, qterm{t, idf(df, stats.Docs)})
		}
	}
	if len(qts) == 0 {
		return nil, searchStats{Exact: true}, nil
	}
	slices.SortStableFunc(qts, func(a, b qterm) int { return cmp.Compare(b.idf, a.idf) })
	qts = qts[:min(len(qts), maxQueryTerms)]
	cursors := make([]*cursor, len(qts))
	for i, q := range qts {
		prefix := termPrefix(task, kd, q.term)
		c := &cursor{prefix: prefix, idf: q.idf, bit: 1 << i,
			it: txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})}
		defer c.it.Close()
		c.it.Rewind()
		if err := c.load(); err != nil {
			return nil, st, err
		}
		cursors[i] = c
	}
	acc := getAccums(k)
	defer accumPool.Put(acc)
	settled := false
	nextCheck := 0
	for {
		var best *cursor
		for _, c := range cursors {
			if !c.done && (best == nil || c.bound > best.bound) {
				best = c
			}
		}
		if best == nil {
			settled = true // every list read to the end
			break
		}
		ps, err := best.read()
		if err != nil {
			return nil, st, err
		}
		unit := best.idf * dequantize(1) // weight of one impact step
		for _, p := range ps {
			acc.add(p.doc, unit*float64(p.impact), best.bit)
		}
		st.Postings += len(ps)
		st.Chunks++
		if theta, ok := acc.theta(); ok && st.Postings >= nextCheck && boundSum(cursors) <= theta {
			if stopNRA(acc, cursors, theta) {
				settled = true
				break
			}
			nextCheck = st.Postings + max(256, acc.nlive/2)
		}
		if st.Postings >= maxPostings {
			break
		}
	}
	var open uint32
	remaining := 0.0
	for _, c := range cursors {
		if !c.done {
			open |= c.bit
			remaining += c.bound
		}
	}
	// Settled: the top k by lower bound is the answer; complete the scores
	// of its documents that lack a term whose list was not read to the end.
	// Out of budget: rescore the most promising candidates exactly and keep
	// the best k of those (anytime ranking over impact-ordered postings).
	m := k
	if !settled {
		m = max(4*k, 40)
	}
	top := acc.top(m)
	hits := make([]Hit, len(top))
	for i, ai := range top {
		hits[i] = Hit{ID: acc.ids[ai], Score: acc.scores[ai]}
		if open&^acc.masks[ai] == 0 {
			continue
		}
		fw, err := readForward(txn, task, kd, hits[i].ID)
		if err != nil {
			return nil, st, err
		}
		st.Lookups++
		score := 0.0
		for _, ti := range fw.terms {
			for j, q := range qts {
				if q.term == ti.term {
					score += cursors[j].idf * dequantize(ti.impact)
				}
			}
		}
		hits[i].Score = score
	}
	slices.SortFunc(hits, func(a, b Hit) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	hits = hits[:min(k, len(hits))]
	st.Exact = settled
	if !settled && len(hits) == k {
		// The answer is still provably exact if nothing left out can beat
		// the k-th score: no unseen document, no accumulator not rescored.
		theta := hits[k-1].Score
		st.Exact = remaining <= theta
		rescored := make(map[int]bool, len(top))
		for _, ai := range top {
			rescored[ai] = true
		}
		for i := range acc.ids {
			if st.Exact && acc.live[i] && !rescored[i] {
				ub := acc.scores[i]
				for _, c := range cursors {
					if acc.masks[i]&c.bit == 0 {
						ub += c.bound
					}
				}
				st.Exact = ub <= theta
			}
		}
	}
	return hits, st, nil
}

// boundSum bounds the score of a document seen in no list so far.
func boundSum(cursors []*cursor) float64 {
	sum := 0.0
	for _, c := range cursors {
		sum += c.bound
	}
	return sum
}

// stopNRA is called once no unseen document can beat theta, the k-th best
// lower bound. It stops admitting new documents, prunes the accumulators
// that cannot reach theta, and reports whether none outside the top k can.
func stopNRA(acc *accums, cursors []*cursor, theta float64) bool {
	acc.closed = true
	settled := true
	for i := range acc.ids {
		if !acc.live[i] || acc.pos[i] >= 0 {
			continue
		}
		ub := acc.scores[i]
		for _, c := range cursors {
			if acc.masks[i]&c.bit == 0 {
				ub += c.bound
			}
		}
		if ub <= theta {
			acc.drop(i)
		} else {
			settled = false
		}
	}
	return settled
}

func readStats(txn *badger.Txn, task string, kd Kind) (indexStats, error) {
	item, err := txn.Get(statsKey(task, kd))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return indexStats{}, nil
	}
	if err != nil {
		return indexStats{}, err
	}
	var st indexStats
	err = item.Value(func(b []byte) error { st, err = decodeStats(b); return err })
	return st, err
}

func readDF(txn *badger.Txn, key []byte) (uint64, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var df uint64
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

func readForward(txn *badger.Txn, task string, kd Kind, id uint64) (forward, error) {
	item, err := txn.Get(forwardKey(task, kd, id))
	if err != nil {
		return forward{}, fmt.Errorf("forward entry %d: %w", id, err)
	}
	var fw forward
	err = item.Value(func(b []byte) error { fw, err = decodeForward(b); return err })
	return fw, err
}

// scoreText scores small in-memory documents for query with BM25, using the
// task's index statistics for idf and length normalization: how a
// candidate's own lessons, demos and pinned notes are ranked at render time.
func scoreText(txn *badger.Txn, task string, kd Kind, query []string, docs []string) ([]float64, error) {
	scores := make([]float64, len(docs))
	if len(query) == 0 || len(docs) == 0 {
		return scores, nil
	}
	stats, err := readStats(txn, task, kd)
	if err != nil {
		return nil, err
	}
	tokens := make([][]string, len(docs))
	var total int
	for i, d := range docs {
		tokens[i] = Tokenize(d)
		total += len(tokens[i])
	}
	// Documents not yet in the index (pending notes) join the statistics.
	n := stats.Docs + uint64(len(docs))
	avgdl := float64(stats.Length+uint64(total)) / float64(n)
	seen := map[string]bool{}
	for _, q := range query {
		if seen[q] {
			continue
		}
		seen[q] = true
		df, err := readDF(txn, dfKey(task, kd, q))
		if err != nil {
			return nil, err
		}
		local := uint64(0)
		for _, toks := range tokens {
			if slices.Contains(toks, q) {
				local++
			}
		}
		w := idf(max(df, local), n)
		for i, toks := range tokens {
			tf := 0
			for _, t := range toks {
				if t == q {
					tf++
				}
			}
			if tf > 0 {
				scores[i] += w * bm25Weight(tf, len(toks), avgdl)
			}
		}
	}
	return scores, nil
}
