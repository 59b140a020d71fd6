package prompts

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	badger "github.com/dgraph-io/badger/v4"
)

func TestTokenize(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"The Capital of FRANCE is Paris.", []string{"capital", "france", "paris"}},
		{"x=42; y = 7", []string{"x", "42", "y", "7"}},
		{"Café über naïve", []string{"café", "über", "naïve"}},
		{"don't", []string{"don"}},
		{"", nil},
		{"   ...   ", nil},
	}
	for _, tc := range cases {
		if got := Tokenize(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("Tokenize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// zipfCorpus makes n documents over a vocabulary of v words with a Zipf
// distribution, like real text.
func zipfCorpus(rng *rand.Rand, n, v int) []string {
	z := rand.NewZipf(rng, 1.1, 2, uint64(v-1))
	docs := make([]string, n)
	for i := range docs {
		words := make([]string, 4+rng.IntN(16))
		for j := range words {
			words[j] = fmt.Sprintf("w%d", z.Uint64())
		}
		docs[i] = strings.Join(words, " ")
	}
	return docs
}

// bruteForce scores every document from its forward entry: the exact
// answer the impact-ordered search must reproduce.
func bruteForce(t *testing.T, s *Store, task string, kd Kind, query string, k int) []Hit {
	t.Helper()
	var hits []Hit
	err := s.db.View(func(txn *badger.Txn) error {
		stats, err := readStats(txn, task, kd)
		if err != nil {
			return err
		}
		w := map[string]float64{}
		for _, q := range Tokenize(query) {
			df, err := readDF(txn, dfKey(task, kd, q))
			if err != nil {
				return err
			}
			if df > 0 {
				w[q] = idf(df, stats.Docs)
			}
		}
		prefix := kindPrefix(pfxForward, task, kd)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.ValidForPrefix(prefix); it.Next() {
			var fw forward
			it.Item().Value(func(b []byte) error { fw, err = decodeForward(b); return err })
			score := 0.0
			for _, ti := range fw.terms {
				score += w[ti.term] * dequantize(ti.impact)
			}
			if score > 0 {
				hits = append(hits, Hit{ID: idFromKey(it.Item().Key()), Score: score})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(hits, func(a, b Hit) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return hits[:min(k, len(hits))]
}

func TestSearchMatchesBruteForce(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "")
	mustTask(t, s, "z")
	rng := rand.New(rand.NewPCG(1, 2))
	docs := zipfCorpus(rng, 3000, 400)
	notes := make([]Note, len(docs))
	for i, d := range docs {
		notes[i] = Note{Text: d}
	}
	// Two batches, so postings carry different length normalizations.
	var ns []Note
	for _, batch := range [][]Note{notes[:1000], notes[1000:1010], notes[1010:]} {
		out, err := s.AddNotes(ctx, "z", batch)
		if err != nil {
			t.Fatal(err)
		}
		ns = append(ns, out...)
	}
	check := func(q int) {
		d := Tokenize(docs[rng.IntN(len(docs))])
		query := strings.Join(d[:min(len(d), 1+q%4)], " ")
		k := 1 + q%12
		got, st, err := s.search(ctx, "z", KindNote, query, k, DefaultMaxPostings)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Exact {
			t.Fatalf("query %q hit the postings cap", query)
		}
		want := bruteForce(t, s, "z", KindNote, query, k)
		if len(got) != len(want) {
			t.Fatalf("query %q k=%d: %d hits, want %d", query, k, len(got), len(want))
		}
		for i := range got {
			// Ids must agree except among documents tied in score.
			tied := i > 0 && math.Abs(want[i].Score-want[i-1].Score) < 1e-9 ||
				i+1 < len(want) && math.Abs(want[i].Score-want[i+1].Score) < 1e-9
			if !tied && got[i].ID != want[i].ID || math.Abs(got[i].Score-want[i].Score) > 1e-9 {
				t.Fatalf("query %q k=%d hit %d = %+v, want %+v\ngot  %v\nwant %v", query, k, i, got[i], want[i], got, want)
			}
		}
	}
	for q := range 150 {
		check(q)
	}
	// Compaction merges chunks without changing any answer, and deletion
	// finds postings inside merged chunks.
	if err := s.Compact(ctx, "z"); err != nil {
		t.Fatal(err)
	}
	for q := range 50 {
		check(q)
	}
	for _, i := range rng.Perm(len(ns))[:300] {
		if err := s.DeleteNote(ctx, "z", ns[i].ID); err != nil {
			t.Fatal(err)
		}
	}
	for q := range 50 {
		check(q)
	}
	var chunks int
	s.db.View(func(txn *badger.Txn) error {
		prefix := kindPrefix(pfxPosting, "z", KindNote)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.ValidForPrefix(prefix); it.Next() {
			it.Item().Value(func(b []byte) error {
				return decodeChunk(b, func(doc uint64, _ uint16) {
					if _, err := s.Note(ctx, "z", doc); err != nil {
						t.Errorf("posting of deleted note %d", doc)
					}
				})
			})
			chunks++
		}
		return nil
	})
	if chunks == 0 {
		t.Fatal("no chunks")
	}
}

// TestSearchBM25 checks scores against textbook BM25 once the index is
// rebuilt with the final average length.
func TestSearchBM25(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "")
	mustTask(t, s, "b")
	docs := []string{
		"the cat sat on the mat",
		"dogs chase cats in the garden",
		"a cat and a dog are friends",
		"stock markets fell sharply today",
		"cat cat cat: a very feline document about a cat",
	}
	var notes []Note
	for _, d := range docs {
		notes = append(notes, Note{Text: d})
	}
	ns, err := s.AddNotes(ctx, "b", notes)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Reindex(ctx, "b", KindNote); err != nil {
		t.Fatal(err)
	}
	hits, err := s.Search(ctx, "b", KindNote, "cat", 10)
	if err != nil {
		t.Fatal(err)
	}
	// Textbook BM25 over the tokenized documents.
	var total int
	toks := make([][]string, len(docs))
	for i, d := range docs {
		toks[i] = Tokenize(d)
		total += len(toks[i])
	}
	avgdl := float64(total) / float64(len(docs))
	want := map[uint64]float64{}
	df := 0
	for _, tk := range toks {
		if slices.Contains(tk, "cat") {
			df++
		}
	}
	for i, tk := range toks {
		tf := 0
		for _, w := range tk {
			if w == "cat" {
				tf++
			}
		}
		if tf > 0 {
			want[ns[i].ID] = idf(uint64(df), uint64(len(docs))) * bm25Weight(tf, len(tk), avgdl)
		}
	}
	if len(hits) != len(want) {
		t.Fatalf("hits %v, want %v", hits, want)
	}
	if hits[0].ID != ns[4].ID {
		t.Fatalf("top hit %d, want the feline document %d", hits[0].ID, ns[4].ID)
	}
	for _, h := range hits {
		if math.Abs(h.Score-want[h.ID]) > 1e-3 {
			t.Errorf("doc %d score %.5f, BM25 %.5f", h.ID, h.Score, want[h.ID])
		}
	}
	// Deleting a document removes it from results and frequencies.
	if err := s.DeleteNote(ctx, "b", ns[4].ID); err != nil {
		t.Fatal(err)
	}
	hits, _ = s.Search(ctx, "b", KindNote, "cat", 10)
	for _, h := range hits {
		if h.ID == ns[4].ID {
			t.Fatal("deleted note still found")
		}
	}
	if len(hits) != 2 {
		t.Fatalf("after delete: %v", hits)
	}
	if got, _ := s.Search(ctx, "b", KindNote, "the a of", 5); len(got) != 0 {
		t.Fatalf("stopword-only query found %v", got)
	}
	if got, _ := s.Search(ctx, "b", KindNote, "zebra", 5); len(got) != 0 {
		t.Fatalf("unknown term found %v", got)
	}
}

func TestSearchCapIsApproximate(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "")
	mustTask(t, s, "c")
	rng := rand.New(rand.NewPCG(3, 4))
	docs := zipfCorpus(rng, 500, 50)
	var notes []Note
	for _, d := range docs {
		notes = append(notes, Note{Text: d})
	}
	if _, err := s.AddNotes(ctx, "c", notes); err != nil {
		t.Fatal(err)
	}
	hits, st, err := s.search(ctx, "c", KindNote, "w2 w3 w4", 10, 20)
	if err != nil {
		t.Fatal(err)
	}
	if st.Exact || st.Postings < 20 || len(hits) == 0 {
		t.Fatalf("capped search: %+v, %d hits", st, len(hits))
	}
}

// idFromKey reads the trailing 8-byte id of a record key.
func idFromKey(key []byte) uint64 {
	if len(key) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(key[len(key)-8:])
}
