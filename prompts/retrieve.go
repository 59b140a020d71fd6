package prompts

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	badger "github.com/dgraph-io/badger/v4"
)

// Embedder turns text into a vector. The core implements it over Ollama's
// embed endpoint; the embedding ranking is optional.
type Embedder interface {
	Embed(ctx context.Context, text string) ([]float32, error)
}

// RetrieveOptions say how many records of each kind to retrieve and whether
// to rank with embeddings too.
type RetrieveOptions struct {
	Notes, Demos, Lessons int
	// Embedder, when set, adds an embedding ranking fused with BM25 by
	// reciprocal rank. Tasks with few records of a kind are ranked whole;
	// larger ones rerank the best lexical candidates.
	Embedder Embedder
	// EmbedderID names the embedding model. Record vectors are cached in
	// the store under it; empty disables the cache.
	EmbedderID string
	// Candidates is how many lexical hits the embedding ranking reranks
	// (default 50).
	Candidates int
}

// Scored is a retrieved record and its score: BM25, or the fused
// reciprocal-rank score when an embedding ranking took part.
type Scored[T any] struct {
	Item  T       `json:"item"`
	Score float64 `json:"score"`
}

// Retrieved holds the records retrieved for one query, best first.
type Retrieved struct {
	Notes   []Scored[Note]   `json:"notes,omitempty"`
	Demos   []Scored[Demo]   `json:"demos,omitempty"`
	Lessons []Scored[Lesson] `json:"lessons,omitempty"`
}

// embedWholeKind is the number of records of a kind up to which the
// embedding ranking considers all of them, not just lexical candidates:
// it lets a query with no word in common still find its record.
const embedWholeKind = 256

// rrfK is the usual reciprocal-rank-fusion constant.
const rrfK = 60

// Retrieve returns the top notes, demos and lessons of task for query.
// Pending notes are not retrieved.
func (s *Store) Retrieve(ctx context.Context, task, query string, opts RetrieveOptions) (Retrieved, error) {
	var out Retrieved
	var err error
	if out.Notes, err = retrieveKind[Note](s, ctx, task, KindNote, query, opts.Notes, opts); err != nil {
		return Retrieved{}, err
	}
	if out.Demos, err = retrieveKind[Demo](s, ctx, task, KindDemo, query, opts.Demos, opts); err != nil {
		return Retrieved{}, err
	}
	if out.Lessons, err = retrieveKind[Lesson](s, ctx, task, KindLesson, query, opts.Lessons, opts); err != nil {
		return Retrieved{}, err
	}
	return out, nil
}

func retrieveKind[T any](s *Store, ctx context.Context, task string, kd Kind, query string, k int, opts RetrieveOptions) ([]Scored[T], error) {
	if k <= 0 {
		return nil, nil
	}
	want := k
	if opts.Embedder != nil {
		want = max(k, opts.Candidates, 50)
	}
	hits, err := s.Search(ctx, task, kd, query, want)
	if err != nil {
		return nil, err
	}
	if opts.Embedder != nil {
		if hits, err = s.embedRank(ctx, task, kd, query, hits, opts); err != nil {
			return nil, fmt.Errorf("retrieve %ss of %s: %w", kd, task, err)
		}
	}
	hits = hits[:min(k, len(hits))]
	out := make([]Scored[T], 0, len(hits))
	err = s.view(ctx, func(txn *badger.Txn) error {
		for _, h := range hits {
			var v T
			if err := getJSON(txn, idKey(recordPrefix(kd), task, h.ID), &v); err != nil {
				if errors.Is(err, ErrNotFound) {
					continue // deleted since the search
				}
				return err
			}
			out = append(out, Scored[T]{v, h.Score})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("retrieve %ss of %s: %w", kd, task, err)
	}
	return out, nil
}

// embedRank fuses the lexical ranking with an embedding ranking of the
// candidates (every searchable record, for small kinds).
func (s *Store) embedRank(ctx context.Context, task string, kd Kind, query string, hits []Hit, opts RetrieveOptions) ([]Hit, error) {
	texts := map[uint64]string{}
	var ids []uint64
	err := s.view(ctx, func(txn *badger.Txn) error {
		st, err := readStats(txn, task, kd)
		if err != nil {
			return err
		}
		if st.Docs <= embedWholeKind {
			return scanDocs(txn, task, kd, func(id uint64, text string, pending bool) error {
				if !pending {
					texts[id] = text
					ids = append(ids, id)
				}
				return nil
			})
		}
		for _, h := range hits {
			id, text, err := docText(txn, task, kd, h.ID)
			if err != nil {
				return err
			}
			texts[id] = text
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return hits, nil
	}
	qv, err := opts.Embedder.Embed(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("embed query: %w", err)
	}
	sims := make(map[uint64]float64, len(ids))
	for _, id := range ids {
		v, err := s.docVector(ctx, task, kd, id, texts[id], opts)
		if err != nil {
			return nil, err
		}
		sims[id] = cosine(qv, v)
	}
	byEmb := slices.Clone(ids)
	slices.SortFunc(byEmb, func(a, b uint64) int {
		if c := cmp.Compare(sims[b], sims[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	fused := map[uint64]float64{}
	for r, h := range hits {
		fused[h.ID] += 1 / float64(rrfK+r+1)
	}
	for r, id := range byEmb {
		fused[id] += 1 / float64(rrfK+r+1)
	}
	out := make([]Hit, 0, len(fused))
	for id, sc := range fused {
		out = append(out, Hit{ID: id, Score: sc})
	}
	slices.SortFunc(out, func(a, b Hit) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// docText reads the searchable text of one record.
func docText(txn *badger.Txn, task string, kd Kind, id uint64) (uint64, string, error) {
	key := idKey(recordPrefix(kd), task, id)
	switch kd {
	case KindNote:
		var n Note
		err := getJSON(txn, key, &n)
		return id, n.Text, err
	case KindDemo:
		var d Demo
		err := getJSON(txn, key, &d)
		return id, demoText(&d), err
	default:
		var l Lesson
		err := getJSON(txn, key, &l)
		return id, l.Text, err
	}
}

// docVector returns a record's embedding, from the cache when it has one.
func (s *Store) docVector(ctx context.Context, task string, kd Kind, id uint64, text string, opts RetrieveOptions) ([]float32, error) {
	var key []byte
	if opts.EmbedderID != "" {
		key = embedKey(task, kd, id, opts.EmbedderID)
		var v []float32
		err := s.view(ctx, func(txn *badger.Txn) error {
			item, err := txn.Get(key)
			if errors.Is(err, badger.ErrKeyNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			return item.Value(func(b []byte) error { v = decodeVector(b); return nil })
		})
		if err != nil || v != nil {
			return v, err
		}
	}
	v, err := opts.Embedder.Embed(ctx, text)
	if err != nil {
		return nil, fmt.Errorf("embed %s %d: %w", kd, id, err)
	}
	if key != nil {
		if err := s.update(ctx, func(txn *badger.Txn) error { return txn.Set(key, encodeVector(v)) }); err != nil {
			return nil, fmt.Errorf("cache embedding: %w", err)
		}
	}
	return v, nil
}

func encodeVector(v []float32) []byte {
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func decodeVector(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// cosine is the cosine similarity of a and b (0 when either is zero or
// their lengths differ).
func cosine(a, b []float32) float64 {
	if len(a) != len(b) || len(a) == 0 {
		return 0
	}
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / math.Sqrt(na*nb)
}
