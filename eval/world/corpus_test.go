package world

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// proseFile locates the real book once per test, skipping when the Go tool
// is unavailable (it is how the module cache is found).
func proseFile(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go tool not on PATH")
	}
	path, err := LocateProse(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLocateProse(t *testing.T) {
	path := proseFile(t)
	if filepath.Base(path) != "war-and-peace.txt" {
		t.Fatalf("LocateProse = %s", path)
	}
	passages, err := ProsePassages(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(passages) < 1000 || !strings.Contains(passages[0], "Genoa and Lucca") {
		t.Fatalf("%d passages; first = %.80q", len(passages), passages[0])
	}
}

func TestLocateProseCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := LocateProse(ctx); err == nil {
		t.Fatal("no error with a canceled context")
	}
}

func TestProsePassages(t *testing.T) {
	long := strings.Repeat("word ", 50) // 250 characters
	text := "CHAPTER I\n\n" + long + "\nwrapped line.\n\n\"Short.\"\n\n\"Also short.\"\n\nBOOK TWO: 1806\n\n" + long + "\n\nTail."
	path := filepath.Join(t.TempDir(), "book.txt")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(text, "\n", "\r\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ProsePassages(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		strings.TrimSpace(long) + " wrapped line.",
		"\"Short.\"\n\n\"Also short.\"\n\n" + strings.TrimSpace(long),
		"Tail.",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	empty := filepath.Join(t.TempDir(), "empty.txt")
	os.WriteFile(empty, []byte("CHAPTER I\n\nTHE END\n"), 0o644)
	if _, err := ProsePassages(empty); err == nil {
		t.Fatal("no error for a book without paragraphs")
	}
}

func TestCorpus(t *testing.T) {
	w := mustWorld(t, Options{Seed: 9, Known: 30, Newcomers: 10})
	ctx := context.Background()
	t.Run("biographies only", func(t *testing.T) {
		for _, variants := range []int{1, 2, NumBioTemplates} {
			c, err := w.Corpus(ctx, CorpusOptions{BioVariants: variants, ProsePath: "/nonexistent"})
			if err != nil {
				t.Fatal(err) // No prose asked for: the path must not be read.
			}
			if len(c.Documents) != variants*len(w.Known) || len(c.HeldOut) != 0 {
				t.Fatalf("variants=%d: %d documents, %d held out", variants, len(c.Documents), len(c.HeldOut))
			}
		}
		c, _ := w.Corpus(ctx, CorpusOptions{})
		text := strings.Join(c.Documents, "\n")
		for _, p := range w.Known {
			if strings.Count(text, p.Name()) < NumBioTemplates {
				t.Fatalf("known person %s is missing from the corpus", p.Name())
			}
		}
		for _, p := range w.Newcomers {
			if strings.Contains(text, p.Name()) {
				t.Fatalf("newcomer %s leaked into the corpus", p.Name())
			}
		}
		variantOf := map[string]int{}
		for _, p := range w.Known {
			for v, b := range Biographies(p) {
				variantOf[b] = v
			}
		}
		c1, _ := w.Corpus(ctx, CorpusOptions{BioVariants: 1})
		used := map[int]bool{}
		for _, d := range c1.Documents {
			used[variantOf[d]] = true
		}
		if len(used) != NumBioTemplates {
			t.Fatalf("with one variant per person, only templates %v were used", used)
		}
	})
	t.Run("with prose", func(t *testing.T) {
		path := proseFile(t)
		opts := CorpusOptions{BioVariants: 2, ProseChars: 50000, HeldOutChars: 10000, ProsePath: path}
		c, err := w.Corpus(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		c2, _ := w.Corpus(ctx, opts)
		if !reflect.DeepEqual(c, c2) {
			t.Fatal("corpus is not deterministic")
		}
		prose := 0
		docs := map[string]bool{}
		for _, d := range c.Documents {
			docs[d] = true
			if !strings.Contains(d, "favorite color") && !strings.Contains(d, "loves the color") && !strings.Contains(d, "more than any other color") {
				prose += len(d)
			}
		}
		if prose < opts.ProseChars || prose > opts.ProseChars+20000 {
			t.Fatalf("%d characters of prose, want about %d", prose, opts.ProseChars)
		}
		held := 0
		for _, h := range c.HeldOut {
			held += len(h)
			if docs[h] {
				t.Fatalf("held-out passage is also a training document: %.60q", h)
			}
		}
		if held < opts.HeldOutChars || held > opts.HeldOutChars+20000 {
			t.Fatalf("%d held-out characters, want about %d", held, opts.HeldOutChars)
		}
	})
	errs := []struct {
		name string
		opts CorpusOptions
		want string
	}{
		{"too many variants", CorpusOptions{BioVariants: NumBioTemplates + 1}, "BioVariants"},
		{"negative variants", CorpusOptions{BioVariants: -1}, "BioVariants"},
		{"negative prose", CorpusOptions{ProseChars: -1}, "negative"},
		{"missing book", CorpusOptions{ProseChars: 10, ProsePath: filepath.Join(t.TempDir(), "nope.txt")}, "read prose"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := w.Corpus(ctx, tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	t.Run("more prose than the book", func(t *testing.T) {
		_, err := w.Corpus(ctx, CorpusOptions{HeldOutChars: 1 << 30, ProsePath: proseFile(t)})
		if err == nil || !strings.Contains(err.Error(), "only") {
			t.Fatalf("error = %v", err)
		}
	})
}
