package prompts

import (
	"context"
	"hash/fnv"
	"strings"
	"sync/atomic"
	"testing"
)

// conceptEmbedder is a deterministic test embedder: each word maps to a
// concept (synonyms share one), and a text's vector counts its concepts.
// It stands in for a real embedding model, which the integration test uses.
type conceptEmbedder struct {
	synonyms map[string]string
	calls    atomic.Int64
}

func (e *conceptEmbedder) Embed(_ context.Context, text string) ([]float32, error) {
	e.calls.Add(1)
	v := make([]float32, 64)
	for _, w := range Tokenize(text) {
		if c, ok := e.synonyms[w]; ok {
			w = c
		}
		h := fnv.New32a()
		h.Write([]byte(w))
		v[h.Sum32()%64]++
	}
	return v, nil
}

func TestRetrieveLexical(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "")
	mustTask(t, s, "geo")
	if _, err := s.AddNotes(ctx, "geo", []Note{
		{Text: "Paris is the capital of France."},
		{Text: "Berlin is the capital of Germany."},
		{Text: "The Danube flows through Vienna and Budapest."},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddDemos(ctx, "geo", []Demo{{Input: "Capital of Italy?", Output: "Rome"}, {Input: "Longest river?", Output: "Nile"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddLessons(ctx, "geo", []Lesson{{Text: "Answer with the city name only."}, {Text: "Rivers: give the country too."}}); err != nil {
		t.Fatal(err)
	}
	r, err := s.Retrieve(ctx, "geo", "What is the capital of France?", RetrieveOptions{Notes: 2, Demos: 1, Lessons: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Notes) != 2 || !strings.Contains(r.Notes[0].Item.Text, "Paris") {
		t.Fatalf("notes = %+v", r.Notes)
	}
	if len(r.Demos) != 1 || r.Demos[0].Item.Output != "Rome" {
		t.Fatalf("demos = %+v", r.Demos)
	}
	if len(r.Lessons) != 0 {
		t.Fatalf("no lesson shares a word with the query, got %+v", r.Lessons)
	}
	if _, err := s.Retrieve(ctx, "nope", "x", RetrieveOptions{Notes: 1}); err == nil {
		t.Fatal("unknown task retrieved")
	}
}

func TestRetrieveEmbedding(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "")
	mustTask(t, s, "cars")
	if _, err := s.AddNotes(ctx, "cars", []Note{
		{Text: "An automobile needs oil every 10000 km."},
		{Text: "Bicycles need air in the tyres."},
		{Text: "Trains run on rails."},
	}); err != nil {
		t.Fatal(err)
	}
	emb := &conceptEmbedder{synonyms: map[string]string{"car": "automobile", "vehicle": "automobile", "motor": "oil"}}
	opts := RetrieveOptions{Notes: 1, Embedder: emb, EmbedderID: "concepts-v1"}
	r, err := s.Retrieve(ctx, "cars", "car motor", opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Notes) != 1 || !strings.Contains(r.Notes[0].Item.Text, "automobile") {
		t.Fatalf("embedding ranking found %+v", r.Notes)
	}
	first := emb.calls.Load()
	if _, err := s.Retrieve(ctx, "cars", "car motor", opts); err != nil {
		t.Fatal(err)
	}
	if again := emb.calls.Load() - first; again != 1 {
		t.Fatalf("second retrieval made %d embedding calls, want 1 (the query; records are cached)", again)
	}
	// Without an embedder the lexical ranking finds nothing for this query.
	r, _ = s.Retrieve(ctx, "cars", "car motor", RetrieveOptions{Notes: 1})
	if len(r.Notes) != 0 {
		t.Fatalf("lexical ranking found %+v", r.Notes)
	}
}
