package tokenizer

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/dlclark/regexp2"
)

// The patterns our hand-written splitters implement, for a backtracking regex
// engine. GPT-2's gets the trailing \s+ its splitter (like Hugging Face's
// pattern) applies.
var splitPatterns = []struct {
	name    string
	pattern string
	split   func([]rune, []int) []int
}{
	{PreGPT2, `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`,
		func(c []rune, e []int) []int { return splitGPT2(c, e) }},
	{PreLlamaBPE, llama3Pattern,
		func(c []rune, e []int) []int { return splitLlama3(c, e, 3) }},
	{PreQwen2, `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
		func(c []rune, e []int) []int { return splitLlama3(c, e, 1) }},
}

// TestSplitMatchesRegex checks each splitter against its regex run by a
// backtracking engine, on tricky strings, prose and random strings drawn from
// characters of every class the patterns distinguish.
func TestSplitMatchesRegex(t *testing.T) {
	alphabet := []string{"a", "Z", "é", "ß", "你", "ж", "1", "9", "٣", "²", "'", "s", "S", "t", "re", "VE", "ll", "d", "m",
		" ", " ", "  ", "\t", "\n", "\r", "\r\n", "!", ".", "(", "$", "+", "😀", "\u0301", "\u00a0", "\u3000", "_", "-"}
	inputs := oracleInputs(t)
	r := rand.New(rand.NewPCG(5, 6))
	for range 3000 {
		var b strings.Builder
		for range 1 + r.IntN(10) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		inputs = append(inputs, b.String())
	}
	for _, p := range splitPatterns {
		t.Run(p.name, func(t *testing.T) {
			re := regexp2.MustCompile(p.pattern, regexp2.None)
			bad := 0
			for _, in := range inputs {
				if got, want := words(in, p.split), regexWords(t, re, in); !slices.Equal(got, want) {
					t.Errorf("split(%.60q) %s", in, firstDiff(got, want))
					if bad++; bad > 10 {
						t.Fatal("too many differences")
					}
				}
			}
		})
	}
}
