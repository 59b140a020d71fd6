package world

import (
	"bytes"
	"context"

	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"unicode"
)

// CorpusOptions size a pretraining corpus.
type CorpusOptions struct {
	// BioVariants is the number of biography paraphrases per known person,
	// 1 to NumBioTemplates (0 means all). With fewer than all, people get
	// different templates in rotation so every template is used.
	BioVariants int
	// ProseChars is roughly how many characters of real prose to mix in
	// (whole passages are added until the total reaches it); 0 means none.
	ProseChars int
	// HeldOutChars is roughly how many characters of held-out prose to set
	// aside for perplexity; 0 means none. Held-out passages come from the
	// last tenth of the book and never overlap the training prose.
	HeldOutChars int
	// ProsePath is the war-and-peace.txt to read; empty means LocateProse, or,
	// when only held-out prose is asked for (at most EmbeddedHeldOutChars),
	// the copy embedded in the binary.
	ProsePath string
}

// Corpus is pretraining text.
type Corpus struct {
	// Documents are the biographies of the known people and the training
	// prose passages, in a seeded shuffled order.
	Documents []string
	// HeldOut are prose passages disjoint from Documents, in book order.
	HeldOut []string
}

// heldOutShare is the fraction of the book, at its end, reserved for
// held-out passages.
const heldOutShare = 0.1

// Corpus builds the pretraining corpus: biographies of the known people
// (never of the newcomers) and, when asked for, real prose.
func (w *World) Corpus(ctx context.Context, opts CorpusOptions) (Corpus, error) {
	variants := opts.BioVariants
	if variants == 0 {
		variants = NumBioTemplates
	}
	if variants < 0 || variants > NumBioTemplates {
		return Corpus{}, fmt.Errorf("world: corpus: BioVariants %d out of range 1..%d", opts.BioVariants, NumBioTemplates)
	}
	if opts.ProseChars < 0 || opts.HeldOutChars < 0 {
		return Corpus{}, fmt.Errorf("world: corpus: negative prose size (%d, %d)", opts.ProseChars, opts.HeldOutChars)
	}
	var c Corpus
	for i, p := range w.Known {
		for v := range variants {
			c.Documents = append(c.Documents, Biography(p, i+v))
		}
	}
	if opts.ProseChars == 0 && opts.ProsePath == "" && opts.HeldOutChars > 0 && opts.HeldOutChars <= EmbeddedHeldOutChars {
		// Held-out prose alone: the copy embedded in the binary, no book to find.
		var err error
		if c.HeldOut, err = HeldOutProse(opts.HeldOutChars); err != nil {
			return Corpus{}, err
		}
	} else if opts.ProseChars > 0 || opts.HeldOutChars > 0 {
		path := opts.ProsePath
		if path == "" {
			var err error
			if path, err = LocateProse(ctx); err != nil {
				return Corpus{}, err
			}
		}
		passages, err := ProsePassages(path)
		if err != nil {
			return Corpus{}, err
		}
		cut := len(passages) - int(heldOutShare*float64(len(passages)))
		train, err := takeChars(passages[:cut], opts.ProseChars)
		if err != nil {
			return Corpus{}, fmt.Errorf("world: corpus: training prose: %w", err)
		}
		if c.HeldOut, err = takeChars(passages[cut:], opts.HeldOutChars); err != nil {
			return Corpus{}, fmt.Errorf("world: corpus: held-out prose: %w", err)
		}
		c.Documents = append(c.Documents, train...)
	}
	r := newRNG(w.opts.Seed, streamCorpus)
	shuffled := make([]string, len(c.Documents))
	for i, j := range r.Perm(len(c.Documents)) {
		shuffled[i] = c.Documents[j]
	}
	c.Documents = shuffled
	return c, nil
}

// takeChars returns leading passages until their total length reaches n.
func takeChars(passages []string, n int) ([]string, error) {
	var out []string
	total := 0
	for _, p := range passages {
		if total >= n {
			return out, nil
		}
		out = append(out, p)
		total += len(p)
	}
	if total < n {
		return nil, fmt.Errorf("asked for %d characters, only %d available", n, total)
	}
	return out, nil
}

// minPassage is the length below which a paragraph (mostly a line of
// dialogue) is merged with the next, so passages carry some context.
const minPassage = 200

// ProsePassages reads a plain-text book and returns its paragraphs with line
// wrapping undone. Headings (paragraphs without lowercase letters, such as
// "CHAPTER I") are dropped, and short paragraphs are merged with the
// following ones into passages of at least minPassage characters.
func ProsePassages(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("world: read prose: %w", err)
	}
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	var out []string
	var pending []string
	pendingLen := 0
	for _, para := range strings.Split(string(data), "\n\n") {
		text := strings.Join(strings.Fields(para), " ")
		if text == "" || !strings.ContainsFunc(text, unicode.IsLower) {
			continue
		}
		pending = append(pending, text)
		pendingLen += len(text)
		if pendingLen >= minPassage {
			out = append(out, strings.Join(pending, "\n\n"))
			pending, pendingLen = pending[:0], 0
		}
	}
	if len(pending) > 0 {
		out = append(out, strings.Join(pending, "\n\n"))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("world: read prose: %s has no paragraphs", path)
	}
	return out, nil
}

// proseModule is the module whose test data carries the prose.
const proseModule = "github.com/ollama/ollama"

// proseDirs are where war-and-peace.txt lives inside that module: v0.17.x
// keeps it under tokenizer/testdata, v0.6.x under model/testdata.
var proseDirs = []string{"tokenizer/testdata", "model/testdata"}

// LocateProse finds war-and-peace.txt in the github.com/ollama/ollama module:
// first the version this build's module resolves (`go list -m`), then any
// version in the module cache. It needs the module to be downloaded, which
// any build of this project does.
func LocateProse(ctx context.Context) (string, error) {
	var looked []string
	if out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", proseModule).Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); dir != "" {
			for _, sub := range proseDirs {
				p := filepath.Join(dir, sub, "war-and-peace.txt")
				if fileExists(p) {
					return p, nil
				}
				looked = append(looked, p)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("world: locate prose: %w", err)
	}
	if cache := modCache(ctx); cache != "" {
		var found []string
		for _, sub := range proseDirs {
			pattern := filepath.Join(cache, "github.com", "ollama", "ollama@*", sub, "war-and-peace.txt")
			m, _ := filepath.Glob(pattern) // The pattern is well formed.
			found = append(found, m...)
			looked = append(looked, pattern)
		}
		if len(found) > 0 {
			sort.Strings(found) // Deterministic choice; every version holds the same text.
			return found[len(found)-1], nil
		}
	}
	return "", fmt.Errorf("world: war-and-peace.txt not found (looked in %s); run `go mod download %s` or set CorpusOptions.ProsePath",
		strings.Join(looked, ", "), proseModule)
}

// modCache returns the Go module cache directory, or "" if unknown.
func modCache(ctx context.Context) string {
	if out, err := exec.CommandContext(ctx, "go", "env", "GOMODCACHE").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); dir != "" {
			return dir
		}
	}
	if dir := os.Getenv("GOMODCACHE"); dir != "" {
		return dir
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		gopath = filepath.Join(home, "go")
	}
	return filepath.Join(filepath.SplitList(gopath)[0], "pkg", "mod")
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}
