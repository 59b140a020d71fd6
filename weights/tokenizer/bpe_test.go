package tokenizer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/fastslow/fastslow/internal/ollamamod"
)

// testdataFile returns a file of the ollama module's test data (a real llama-3.2 vocabulary, real prose), or
// skips.
func testdataFile(t testing.TB, name string) string {
	t.Helper()
	path, err := ollamamod.Testdata(name)
	if err != nil {
		t.Skipf("ollama testdata unavailable: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("ollama testdata unavailable: %v", err)
	}
	return string(data)
}

// warAndPeace returns the first n bytes of the novel, cut at a line end.
func warAndPeace(t testing.TB, n int) string {
	s := testdataFile(t, "war-and-peace.txt")
	if len(s) > n {
		s = s[:strings.LastIndexByte(s[:n], '\n')+1]
	}
	return s
}

// syntheticCorpus is a small deterministic corpus that needs no files.
func syntheticCorpus() []string {
	names := []string{"Anna", "Boris", "Chen", "Dörte", "Émile", "Fatima", "王伟"}
	places := []string{"Lisbon", "Kraków", "Osaka", "Nairobi", "Québec"}
	r := rand.New(rand.NewPCG(1, 2))
	var docs []string
	for i := range 400 {
		n, p := names[r.IntN(len(names))], places[r.IntN(len(places))]
		docs = append(docs, fmt.Sprintf("<|bos|>%s was born in %s in %d. %s's friend said: \"I'm from %s, it's %d km away!\"\n\n<|eos|>",
			n, p, 1900+r.IntN(120), n, places[i%len(places)], r.IntN(20000)))
	}
	return docs
}

var trainedOnce = sync.OnceValues(func() (*BPE, error) {
	return Train(context.Background(), syntheticCorpus(), TrainOptions{VocabSize: 512})
})

func trained(t testing.TB) *BPE {
	t.Helper()
	tok, err := trainedOnce()
	if err != nil {
		t.Fatalf("Train: %v", err)
	}
	return tok
}

// trickyStrings exercise the pre-tokenizers and byte handling.
var trickyStrings = []string{
	"",
	" ",
	"  ",
	"\n",
	"Hello, world!",
	"Anna was born in Lisbon in 1984.",
	"it's I'm we'll they've you'd she's DON'T It'S",
	"12345678901 3.14159 1,000,000 ٣٤٥",
	"a  b   c    d\t\te\n\n\nf \n g\r\n",
	"   leading and trailing   ",
	"tabs\tand\vvertical\ffeeds",
	"emoji: 👋🏽 👨‍👩‍👧 🇫🇷!!",
	"CJK: 你好，世界。日本語のテキスト 한국어",
	"accents: café naïve Ångström ß ǅ",
	"mixed\u00a0nbsp\u2003em\u3000ideographic",
	"<|bos|>special<|eos|> in <|pad|>text",
	"<|bos|><|bos|>",
	"<|bos| almost <|eos>",
	"code: if (x != y) { return a->b[0]; } // ok",
	"\x00\x01\x7f control bytes",
	"invalid \xff\xfe utf8 \xe2\x82 here",
	"surrogate \xed\xa0\x80 and overlong \xc0\xaf",
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	tok := trained(t)
	for _, s := range trickyStrings {
		ids := tok.Encode(s, false)
		want := s
		if !utf8.ValidString(s) {
			// llama.cpp replaces bytes that start no UTF-8 sequence by U+FFFD.
			want = string(appendCpts(nil, decodeCpts(s, nil)))
		}
		var pieces strings.Builder
		for _, id := range ids {
			pieces.WriteString(tok.Piece(id))
		}
		if got := pieces.String(); got != want {
			t.Errorf("pieces of Encode(%q) = %q, want %q", s, got, want)
		}
		if strings.Contains(s, "\x00") {
			// Ollama trims NUL bytes at the end of each piece.
			want = strings.ReplaceAll(want, "\x00", "")
		}
		if got := tok.Decode(ids); got != want {
			t.Errorf("Decode(Encode(%q)) = %q, want %q", s, got, want)
		}
		for _, id := range ids {
			if id < 0 || int(id) >= tok.Size() {
				t.Fatalf("Encode(%q) gave id %d outside the vocabulary", s, id)
			}
		}
	}
}

func appendCpts(dst []byte, cpts []rune) []byte {
	for _, c := range cpts {
		dst = appendCpt(dst, c)
	}
	return dst
}

func TestEncodeSpecial(t *testing.T) {
	tok := trained(t)
	bos, eos := tok.BOS(), tok.EOS()
	pad := tok.lookup("<|pad|>")
	if bos < 0 || eos < 0 || pad < 0 || bos == eos {
		t.Fatalf("bos %d eos %d pad %d", bos, eos, pad)
	}
	tests := []struct {
		in         string
		addSpecial bool
		want       []int32 // the special tokens expected, in order, at these places
		first      int32   // expected first id, or -1
		last       int32   // expected last id, or -1
	}{
		{"", true, []int32{bos}, bos, bos},
		{"", false, nil, -1, -1},
		{"hi", true, []int32{bos}, bos, -1},
		{"<|bos|>hi<|eos|>", false, []int32{bos, eos}, bos, eos},
		{"<|bos|>hi<|eos|>", true, []int32{bos, bos, eos}, bos, eos},
		{"a<|pad|><|pad|>b", false, []int32{pad, pad}, -1, -1},
	}
	for _, tt := range tests {
		ids := tok.Encode(tt.in, tt.addSpecial)
		var specials []int32
		for _, id := range ids {
			if tok.IsSpecial(id) {
				specials = append(specials, id)
			}
		}
		if !slices.Equal(specials, tt.want) {
			t.Errorf("Encode(%q, %v) = %v: specials %v, want %v", tt.in, tt.addSpecial, ids, specials, tt.want)
		}
		if tt.first >= 0 && (len(ids) == 0 || ids[0] != tt.first) {
			t.Errorf("Encode(%q, %v) = %v, want first %d", tt.in, tt.addSpecial, ids, tt.first)
		}
		if tt.last >= 0 && (len(ids) == 0 || ids[len(ids)-1] != tt.last) {
			t.Errorf("Encode(%q, %v) = %v, want last %d", tt.in, tt.addSpecial, ids, tt.last)
		}
	}
	// Text around a special token is encoded as if it stood alone.
	got := tok.Encode("Anna<|eos|> Boris", false)
	want := slices.Concat(tok.Encode("Anna", false), []int32{eos}, tok.Encode(" Boris", false))
	if !slices.Equal(got, want) {
		t.Errorf("Encode around special = %v, want %v", got, want)
	}
}

// referenceMerge is a direct, slow BPE: repeatedly merge the adjacent pair of
// lowest rank, leftmost first, over the mapped characters of a word.
func referenceMerge(t *BPE, word string) []int32 {
	var syms []string
	for i := 0; i < len(word); i++ {
		syms = append(syms, byteToText[word[i]])
	}
	for {
		best, bestRank := -1, int32(-1)
		for i := 0; i+1 < len(syms); i++ {
			if r, ok := t.ranks[syms[i]+" "+syms[i+1]]; ok && (best < 0 || r < bestRank) {
				best, bestRank = i, r
			}
		}
		if best < 0 {
			break
		}
		syms = slices.Replace(syms, best, best+2, syms[best]+syms[best+1])
	}
	var ids []int32
	for _, s := range syms {
		ids = append(ids, t.lookup(s))
	}
	return ids
}

func TestMergeMatchesReference(t *testing.T) {
	tok := trained(t)
	s := new(session)
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []string{"a", "n", "na", " ", "o", "r", "is", "B", "é", "9", "0", "'s", "km", "in"}
	for i := range 2000 {
		var b strings.Builder
		for range 1 + r.IntN(12) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		word := b.String()
		if i%2 == 0 {
			word = " " + word
		}
		got := tok.encodeWord(s, []byte(word), nil)
		if want := referenceMerge(tok, word); !slices.Equal(got, want) {
			t.Fatalf("encodeWord(%q) = %v, want %v", word, got, want)
		}
	}
}

func TestTrainDeterministic(t *testing.T) {
	corpus := syntheticCorpus()
	a, err := Train(context.Background(), corpus, TrainOptions{VocabSize: 400})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Train(context.Background(), corpus, TrainOptions{VocabSize: 400})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.Metadata(), b.Metadata()) {
		t.Fatal("two trainings on the same corpus differ")
	}
	if a.Size() != 400 {
		t.Errorf("Size = %d, want 400", a.Size())
	}
	for i := range 256 {
		if got := a.Piece(int32(i)); got != string([]byte{byte(i)}) {
			t.Fatalf("token %d is %q, want byte %d", i, got, i)
		}
	}
	// The most frequent pair of the corpus is learned first: every document
	// has " in" twice, so "Ġ" "i" is a likely first merge; check the rule
	// instead of guessing: merge 0 must be the pair with the highest count.
	counts, err := countWords(context.Background(), corpus, DefaultSpecials, preGPT2)
	if err != nil {
		t.Fatal(err)
	}
	pairs := map[string]int64{}
	for w, c := range counts {
		for i := 0; i+1 < len(w); i++ {
			pairs[byteToText[w[i]]+" "+byteToText[w[i+1]]] += c
		}
	}
	first := a.Metadata()[4].Value.([]string)[0]
	for p, c := range pairs {
		if c > pairs[first] {
			t.Errorf("first merge %q has count %d but %q has %d", first, pairs[first], p, c)
		}
	}
}

func TestTrainErrors(t *testing.T) {
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		opts TrainOptions
		want string
	}{
		{"small vocab", ctx, TrainOptions{VocabSize: 100}, "below 256"},
		{"unknown pre", ctx, TrainOptions{VocabSize: 300, Pre: "bert"}, "unsupported pre-tokenizer"},
		{"no specials", ctx, TrainOptions{VocabSize: 300, Specials: []string{}}, "at least one special"},
		{"empty special", ctx, TrainOptions{VocabSize: 300, Specials: []string{"<s>", ""}}, "is empty"},
		{"dup special", ctx, TrainOptions{VocabSize: 300, Specials: []string{"<s>", "<s>"}}, "twice"},
		{"bad bos", ctx, TrainOptions{VocabSize: 300, BOS: "<x>"}, "must be among"},
		{"collision", ctx, TrainOptions{VocabSize: 300, Specials: []string{"a"}}, "collides"},
		{"canceled", canceled, TrainOptions{VocabSize: 300}, "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Train(tt.ctx, []string{"some text"}, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Train error = %v, want containing %q", err, tt.want)
			}
		})
	}
}

func TestTrainSmallCorpusStopsEarly(t *testing.T) {
	tok, err := Train(context.Background(), []string{"abab"}, TrainOptions{VocabSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	// Merges: "a b" then "ab ab"; then nothing is left to merge.
	if got, want := tok.Size(), 256+2+3; got != want {
		t.Errorf("Size = %d, want %d", got, want)
	}
	if got := tok.Encode("abab", false); len(got) != 1 || tok.Piece(got[0]) != "abab" {
		t.Errorf("Encode(abab) = %v", got)
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	tok := trained(t)
	md := tok.Metadata()
	m := map[string]any{}
	for _, kv := range md {
		m[kv.Key] = kv.Value
	}
	if m[KeyModel] != "gpt2" || m[KeyPre] != "gpt-2" || m[KeyAddBOS] != true || m[KeyAddEOS] != false {
		t.Errorf("metadata header = %v %v %v %v", m[KeyModel], m[KeyPre], m[KeyAddBOS], m[KeyAddEOS])
	}
	back, err := FromMetadata(func(k string) (any, bool) { v, ok := m[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Metadata(), md) {
		t.Error("Metadata after FromMetadata differs")
	}
	for _, s := range trickyStrings {
		if a, b := tok.Encode(s, true), back.Encode(s, true); !slices.Equal(a, b) {
			t.Errorf("Encode(%q) = %v after round trip, want %v", s, b, a)
		}
	}
}

func TestFromMetadataValueTypes(t *testing.T) {
	tok := trained(t)
	m := map[string]any{}
	for _, kv := range tok.Metadata() {
		m[kv.Key] = kv.Value
	}
	// The same values in other types a GGUF reader may return.
	tokens := m[KeyTokens].([]string)
	anyTokens := make([]any, len(tokens))
	for i, s := range tokens {
		anyTokens[i] = s
	}
	types64 := make([]uint32, len(tokens))
	for i, v := range m[KeyTokenType].([]int32) {
		types64[i] = uint32(v)
	}
	m[KeyTokens] = anyTokens
	m[KeyTokenType] = types64
	m[KeyBOS] = uint64(tok.BOS())
	m[KeyEOS] = int32(tok.EOS())
	back, err := FromMetadata(func(k string) (any, bool) { v, ok := m[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if back.BOS() != tok.BOS() || back.EOS() != tok.EOS() || back.Size() != tok.Size() {
		t.Errorf("got bos %d eos %d size %d", back.BOS(), back.EOS(), back.Size())
	}
}

func TestFromMetadataErrors(t *testing.T) {
	tok := trained(t)
	base := map[string]any{}
	for _, kv := range tok.Metadata() {
		base[kv.Key] = kv.Value
	}
	tests := []struct {
		name string
		edit func(m map[string]any)
		want string
	}{
		{"no model", func(m map[string]any) { delete(m, KeyModel) }, "missing tokenizer.ggml.model"},
		{"spm", func(m map[string]any) { m[KeyModel] = "llama" }, `want "gpt2"`},
		{"no pre", func(m map[string]any) { delete(m, KeyPre) }, "missing tokenizer.ggml.pre"},
		{"bad pre", func(m map[string]any) { m[KeyPre] = "tekken" }, "supported: "},
		{"pre type", func(m map[string]any) { m[KeyPre] = 7 }, "want string"},
		{"no tokens", func(m map[string]any) { delete(m, KeyTokens) }, "missing tokenizer.ggml.tokens"},
		{"tokens type", func(m map[string]any) { m[KeyTokens] = []int32{1} }, "want []string"},
		{"no merges", func(m map[string]any) { delete(m, KeyMerges) }, "missing tokenizer.ggml.merges"},
		{"types length", func(m map[string]any) { m[KeyTokenType] = []int32{1, 1} }, "2 entries"},
		{"types kind", func(m map[string]any) { m[KeyTokenType] = []float32{1} }, "not an integer slice"},
		{"bos range", func(m map[string]any) { m[KeyBOS] = uint32(1 << 20) }, "out of range"},
		{"eos type", func(m map[string]any) { m[KeyEOS] = "2" }, "not an integer"},
		{"add_bos type", func(m map[string]any) { m[KeyAddBOS] = 1 }, "want bool"},
		{"duplicate token", func(m map[string]any) {
			m[KeyTokens] = append(slices.Clone(m[KeyTokens].([]string)), "Ġ")
			m[KeyTokenType] = append(slices.Clone(m[KeyTokenType].([]int32)), TypeNormal)
		}, `both "Ġ"`},
		{"empty vocab", func(m map[string]any) { m[KeyTokens] = []string{}; m[KeyTokenType] = []int32{} }, "empty vocabulary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := map[string]any{}
			for k, v := range base {
				m[k] = v
			}
			tt.edit(m)
			_, err := FromMetadata(func(k string) (any, bool) { v, ok := m[k]; return v, ok })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("FromMetadata error = %v, want containing %q", err, tt.want)
			}
		})
	}
}

func TestConcurrentEncode(t *testing.T) {
	tok := trained(t)
	want := make([][]int32, len(trickyStrings))
	for i, s := range trickyStrings {
		want[i] = tok.Encode(s, true)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 20 {
				for i, s := range trickyStrings {
					if got := tok.Encode(s, true); !slices.Equal(got, want[i]) {
						t.Errorf("concurrent Encode(%q) = %v, want %v", s, got, want[i])
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

func TestTrainWarAndPeace(t *testing.T) {
	text := warAndPeace(t, 1<<20)
	tok, err := Train(context.Background(), []string{text}, TrainOptions{VocabSize: 2048})
	if err != nil {
		t.Fatal(err)
	}
	ids := tok.Encode(text, false)
	if got := tok.Decode(ids); got != text {
		t.Fatal("round trip of the training text failed")
	}
	if ratio := float64(len(text)) / float64(len(ids)); ratio < 3 {
		t.Errorf("compression %.2f bytes/token, want >= 3 for a 2048-token vocabulary", ratio)
	}
}

// TestTokensStayInsideWords trains a vocabulary per pre-tokenizer and checks
// that no token crosses a pre-tokenizer boundary: the pieces of the tokens
// regroup exactly into the splitter's words.
func TestTokensStayInsideWords(t *testing.T) {
	for _, p := range []struct {
		pre   string
		split func([]rune, []int) []int
	}{
		{PreGPT2, func(c []rune, e []int) []int { return splitGPT2(c, e) }},
		{PreLlamaBPE, func(c []rune, e []int) []int { return splitLlama3(c, e, 3) }},
		{PreQwen2, func(c []rune, e []int) []int { return splitLlama3(c, e, 1) }},
	} {
		t.Run(p.pre, func(t *testing.T) {
			tok, err := Train(context.Background(), syntheticCorpus(), TrainOptions{VocabSize: 600, Pre: p.pre})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range append(slices.Clone(trickyStrings), "born in 1984 and 20000 km", "1234567") {
				if !utf8.ValidString(s) || strings.Contains(s, "<|") {
					continue
				}
				ids := tok.Encode(s, false)
				k := 0
				for _, w := range words(s, p.split) {
					var got string
					for len(got) < len(w) && k < len(ids) {
						got += tok.Piece(ids[k])
						k++
					}
					if got != w {
						t.Errorf("%s: Encode(%q): tokens cross the word %q (got %q)", p.pre, s, w, got)
						break
					}
				}
			}
			// Qwen2 splits every digit; llama-3 groups digits by three.
			digits := tok.Encode("1234567", false)
			want := map[string]int{PreQwen2: 7, PreLlamaBPE: 3}[p.pre]
			if want > 0 && len(digits) < want {
				t.Errorf("%s: Encode(1234567) has %d tokens, want at least %d", p.pre, len(digits), want)
			}
			if p.pre == PreQwen2 && len(digits) != 7 {
				t.Errorf("qwen2: Encode(1234567) = %v, want 7 single digits", digits)
			}
		})
	}
}

func TestFromMetadataDefaults(t *testing.T) {
	tok := trained(t)
	tests := []struct {
		pre        string
		wantAddBOS bool
	}{
		{PreGPT2, false}, {PreQwen2, false}, {PreLlamaBPE, true}, {"llama3", true}, {"dbrx", false}, {"deepseek-r1-qwen", false},
	}
	for _, tt := range tests {
		m := map[string]any{}
		for _, kv := range tok.Metadata() {
			m[kv.Key] = kv.Value
		}
		m[KeyPre] = tt.pre
		delete(m, KeyAddBOS)
		delete(m, KeyAddEOS)
		delete(m, KeyBOS)
		delete(m, KeyTokenType)
		back, err := FromMetadata(func(k string) (any, bool) { v, ok := m[k]; return v, ok })
		if err != nil {
			t.Fatalf("%s: %v", tt.pre, err)
		}
		if back.AddBOS() != tt.wantAddBOS {
			t.Errorf("%s: AddBOS = %v, want %v", tt.pre, back.AddBOS(), tt.wantAddBOS)
		}
		if back.BOS() != 11 {
			t.Errorf("%s: BOS = %d, want llama.cpp's default 11", tt.pre, back.BOS())
		}
		// Without token types every token is normal: "<|eos|>" is plain text
		// (but "<|endoftext|>"-like names would still be made control).
		if ids := back.Encode("<|eos|>", false); len(ids) < 2 {
			t.Errorf("%s: untyped <|eos|> encoded as %v, want plain text", tt.pre, ids)
		}
	}
}

func TestControlLookingTokens(t *testing.T) {
	tok, err := Train(context.Background(), syntheticCorpus(), TrainOptions{VocabSize: 400})
	if err != nil {
		t.Fatal(err)
	}
	md := tok.Metadata()
	m := map[string]any{}
	for _, kv := range md {
		m[kv.Key] = kv.Value
	}
	// Add "<|endoftext|>" and "<|im_start|>" as normal tokens: llama.cpp makes
	// the first a control token by its name, and leaves the second alone.
	tokens := append(slices.Clone(m[KeyTokens].([]string)), "<|endoftext|>", "<|im_start|>")
	types := append(slices.Clone(m[KeyTokenType].([]int32)), TypeNormal, TypeNormal)
	m[KeyTokens], m[KeyTokenType] = tokens, types
	back, err := FromMetadata(func(k string) (any, bool) { v, ok := m[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	eot := int32(len(tokens) - 2)
	if got := back.Encode("a<|endoftext|>b", false); !slices.Contains(got, eot) {
		t.Errorf("Encode with <|endoftext|> = %v, want it to contain %d", got, eot)
	}
	if got := back.Encode("<|im_start|>", false); slices.Contains(got, eot+1) {
		t.Errorf("normal token <|im_start|> was parsed as special: %v", got)
	}
}
