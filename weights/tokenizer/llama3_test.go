package tokenizer

import (
	"bufio"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
	ollamatok "github.com/ollama/ollama/tokenizer"
)

// The llama-3.2 special tokens present in the test vocabulary's GGUF.
var llama32Specials = map[string]int32{"<|begin_of_text|>": 128000, "<|end_of_text|>": 128001}

type llama32Pair struct {
	ours   *BPE
	oracle ollamatok.BytePairEncoding
}

var llama32Once sync.Once
var llama32Val llama32Pair
var llama32Err error

// llama32 loads the real llama-3.2 vocabulary into our tokenizer and into the
// oracle: Ollama v0.17.4's Go BPE with the original llama-3 regex.
func llama32(t testing.TB) llama32Pair {
	t.Helper()
	enc := testdataFile(t, "llama3.2/encoder.json")
	bpe := testdataFile(t, "llama3.2/vocab.bpe")
	llama32Once.Do(func() {
		llama32Val.ours, llama32Err = LoadHF(strings.NewReader(enc), strings.NewReader(bpe), PreLlamaBPE, llama32Specials)
		if llama32Err != nil {
			return
		}
		var encoder map[string]int32
		if llama32Err = json.Unmarshal([]byte(enc), &encoder); llama32Err != nil {
			return
		}
		tokens := make([]string, len(encoder))
		types := make([]int32, len(encoder))
		for text, id := range encoder {
			tokens[id], types[id] = text, TypeNormal
		}
		for _, text := range []string{"<|begin_of_text|>", "<|end_of_text|>"} {
			tokens = append(tokens, text)
			types = append(types, TypeControl)
		}
		var merges []string
		sc := bufio.NewScanner(strings.NewReader(bpe))
		for sc.Scan() {
			merges = append(merges, sc.Text()) // every line: "# #" is a real merge
		}
		llama32Val.oracle = ollamatok.NewBytePairEncoding(
			&ollamatok.Vocabulary{Values: tokens, Types: types, Merges: merges, BOS: []int32{128000}, EOS: []int32{128001}, AddBOS: true},
			`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
		)
	})
	if llama32Err != nil {
		t.Fatalf("load llama-3.2 vocabulary: %v", llama32Err)
	}
	return llama32Val
}

// llama3Pattern is the original llama-3 pre-tokenizer regex.
const llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

// regexWords splits s with a backtracking regex engine, as the oracle does.
func regexWords(t testing.TB, re *regexp2.Regexp, s string) []string {
	t.Helper()
	var out []string
	r := []rune(s)
	offset := 0
	m, err := re.FindRunesMatch(r)
	for ; m != nil && err == nil; m, err = re.FindNextMatch(m) {
		if m.Index > offset {
			out = append(out, string(r[offset:m.Index]))
		}
		out = append(out, m.String())
		offset = m.Index + m.Length
	}
	if err != nil {
		t.Fatalf("regexp2: %v", err)
	}
	if offset < len(r) {
		out = append(out, string(r[offset:]))
	}
	return out
}

// oracleInputs are the tricky strings that are valid UTF-8 (Go and llama.cpp
// repair invalid UTF-8 differently: llama.cpp keeps surrogates and decodes
// overlong forms) plus passages of real prose and the prose as a whole.
func oracleInputs(t testing.TB) []string {
	var inputs []string
	for _, s := range trickyStrings {
		if utf8.ValidString(s) {
			inputs = append(inputs, s)
		}
	}
	text := warAndPeace(t, 400<<10)
	if testing.Short() {
		text = text[:strings.LastIndexByte(text[:64<<10], '\n')+1]
	}
	lines := strings.SplitAfter(text, "\n")
	for i := 0; i < len(lines); i += 7 {
		inputs = append(inputs, strings.Join(lines[i:min(i+7, len(lines))], ""))
	}
	return append(inputs, text)
}

// TestLlama32MatchesOracle compares our llama-bpe tokenizer with Ollama's Go
// BPE on the real llama-3.2 vocabulary. The oracle breaks ties between equal
// ranks in no fixed order, where llama.cpp merges the leftmost pair first; on
// the words where that matters our merge must equal the direct reference
// (lowest rank, leftmost first), and the test reports how many there were.
func TestLlama32MatchesOracle(t *testing.T) {
	p := llama32(t)
	re := regexp2.MustCompile(llama3Pattern, regexp2.None)
	s := new(session)
	ties := 0
	for _, in := range oracleInputs(t) {
		// The pre-tokenizer must split exactly like the regex (outside
		// special tokens, which these inputs do not contain).
		if !strings.Contains(in, "<|") {
			if got, want := words(in, func(c []rune, e []int) []int { return splitLlama3(c, e, 3) }), regexWords(t, re, in); !slices.Equal(got, want) {
				t.Errorf("split(%.60q) differs from the regex: %s", in, firstDiff(got, want))
				continue
			}
		}
		want, err := p.oracle.Encode(in, true)
		if err != nil {
			t.Fatalf("oracle Encode(%.60q): %v", in, err)
		}
		got := p.ours.Encode(in, true)
		if slices.Equal(got, want) {
			continue
		}
		// Compare word by word and explain every difference.
		for _, w := range regexWords(t, re, in) {
			o, err := p.oracle.Encode(w, false)
			if err != nil {
				t.Fatalf("oracle Encode(%q): %v", w, err)
			}
			ours := p.ours.encodeWord(s, []byte(w), nil)
			if slices.Equal(ours, o) {
				continue
			}
			if ref := referenceWord(p.ours, w); !slices.Equal(ours, ref) {
				t.Errorf("word %q: got %v, oracle %v, reference %v", w, ours, o, ref)
				continue
			}
			ties++
		}
	}
	t.Logf("%d words where the oracle's tie order differs from llama.cpp's leftmost rule", ties)
}

// referenceWord is llama.cpp's word encoding done the slow way.
func referenceWord(t *BPE, w string) []int32 {
	if t.ignoreM {
		if id, ok := t.rawToID[w]; ok {
			return []int32{id}
		}
	}
	return referenceMerge(t, w)
}

func firstDiff(got, want []string) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	return fmt.Sprintf("at word %d: got %q, want %q", i, got[i:min(i+4, len(got))], want[i:min(i+4, len(want))])
}
