package prompts

import (
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/fastslow/fastslow/internal/ollamamod"
)

var (
	proseOnce  sync.Once
	proseWords []string
)

// prose returns the words of War and Peace from the ollama module's test
// data (on every machine that builds this module), or skips.
func prose(tb testing.TB) []string {
	tb.Helper()
	proseOnce.Do(func() {
		path, err := ollamamod.Testdata("war-and-peace.txt")
		if err != nil {
			return
		}
		if b, err := os.ReadFile(path); err == nil {
			proseWords = strings.Fields(string(b))
		}
	})
	if len(proseWords) == 0 {
		tb.Skip("war-and-peace.txt not found in the github.com/ollama/ollama module")
	}
	return proseWords
}

// proseNotes makes n notes, each two fragments of real prose from random
// places, so that term statistics are those of English text.
func proseNotes(words []string, n int, seed uint64) []Note {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	notes := make([]Note, n)
	var sb strings.Builder
	for i := range notes {
		sb.Reset()
		for f := range 2 {
			l := 6 + rng.IntN(9)
			p := rng.IntN(len(words) - l)
			if f > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(strings.Join(words[p:p+l], " "))
		}
		notes[i] = Note{Text: sb.String()}
	}
	return notes
}

// proseQueries picks q queries of 2 to 5 terms from random notes, the way a
// question about a stored fact shares some of its words.
func proseQueries(notes []Note, q int, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 0x9e77))
	out := make([]string, 0, q)
	for len(out) < q {
		terms := Tokenize(notes[rng.IntN(len(notes))].Text)
		if len(terms) < 2 {
			continue
		}
		rng.Shuffle(len(terms), func(i, j int) { terms[i], terms[j] = terms[j], terms[i] })
		out = append(out, strings.Join(terms[:min(len(terms), 2+rng.IntN(4))], " "))
	}
	return out
}
