package world

import (
	"context"
	"reflect"
	"testing"
)

// TestEmbeddedHeldOut checks that the prose embedded in the binary is the book's held-out prose: the same
// passages Corpus sets aside when it reads the book itself.
func TestEmbeddedHeldOut(t *testing.T) {
	path := proseFile(t)
	for _, chars := range []int{600, 2400, 20_000, EmbeddedHeldOutChars} {
		want, err := BookHeldOut(path, chars)
		if err != nil {
			t.Fatal(err)
		}
		got, err := HeldOutProse(chars)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%d chars: embedded %d passages differ from the book's %d", chars, len(got), len(want))
		}
		w, _ := New(Options{Seed: 1})
		c, err := w.Corpus(context.Background(), CorpusOptions{BioVariants: 1, HeldOutChars: chars})
		if err != nil {
			t.Fatal(err)
		}
		book, err := w.Corpus(context.Background(), CorpusOptions{BioVariants: 1, HeldOutChars: chars, ProsePath: path})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c.HeldOut, book.HeldOut) || !reflect.DeepEqual(c.Documents, book.Documents) {
			t.Errorf("%d chars: corpus from the embedded prose differs from the corpus read from the book", chars)
		}
	}
	for _, bad := range []int{-1, EmbeddedHeldOutChars + 1} {
		if _, err := HeldOutProse(bad); err == nil {
			t.Errorf("HeldOutProse(%d): no error", bad)
		}
	}
}
