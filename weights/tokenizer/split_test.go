package tokenizer

import (
	"slices"
	"testing"
)

// words runs a splitter over s and returns the words as strings.
func words(s string, split func([]rune, []int) []int) []string {
	cpts := decodeCpts(s, nil)
	var out []string
	start := 0
	for _, end := range split(cpts, nil) {
		var b []byte
		for _, c := range cpts[start:end] {
			b = appendCpt(b, c)
		}
		out = append(out, string(b))
		start = end
	}
	return out
}

func TestSplitters(t *testing.T) {
	gpt2 := func(c []rune, e []int) []int { return splitGPT2(c, e) }
	llama3 := func(c []rune, e []int) []int { return splitLlama3(c, e, 3) }
	qwen2 := func(c []rune, e []int) []int { return splitLlama3(c, e, 1) }
	tests := []struct {
		name  string
		split func([]rune, []int) []int
		in    string
		want  []string
	}{
		{"gpt2/empty", gpt2, "", nil},
		{"gpt2/words", gpt2, "Hello world", []string{"Hello", " world"}},
		{"gpt2/contractions", gpt2, "I'm don't we'll they're", []string{"I", "'m", " don", "'t", " we", "'ll", " they", "'re"}},
		{"gpt2/upper contraction", gpt2, "DON'T", []string{"DON", "'", "T"}},
		{"gpt2/digits", gpt2, "abc 12345x", []string{"abc", " 12345", "x"}},
		{"gpt2/spaces", gpt2, "a   b", []string{"a", "  ", " b"}},
		{"gpt2/trailing spaces", gpt2, "a  ", []string{"a", "  "}},
		{"gpt2/leading space", gpt2, " a", []string{" a"}},
		{"gpt2/lone space", gpt2, " ", []string{" "}},
		{"gpt2/newlines", gpt2, "x\n\ny", []string{"x", "\n", "\n", "y"}},
		{"gpt2/tab", gpt2, "a\t\tb", []string{"a", "\t", "\t", "b"}},
		{"gpt2/punct", gpt2, "Hi!!! ...ok", []string{"Hi", "!!!", " ...", "ok"}},
		{"gpt2/emoji", gpt2, "hi 👋🏽!", []string{"hi", " 👋🏽!"}},
		{"gpt2/cjk", gpt2, "你好，世界", []string{"你好", "，", "世界"}},
		{"gpt2/accents", gpt2, "café naïve", []string{"café", " naïve"}},
		{"gpt2/nbsp", gpt2, "a\u00a0b", []string{"a", "\u00a0", "b"}},

		{"llama3/empty", llama3, "", nil},
		{"llama3/words", llama3, "Hello world", []string{"Hello", " world"}},
		{"llama3/upper contraction", llama3, "DON'T I'M", []string{"DON", "'T", " I", "'M"}},
		{"llama3/digits", llama3, "1234567 x12", []string{"123", "456", "7", " x", "12"}},
		{"llama3/punct prefix", llama3, "(hello)", []string{"(hello", ")"}},
		{"llama3/tab prefix", llama3, "a\tb", []string{"a", "\tb"}},
		{"llama3/spaces", llama3, "a   b", []string{"a", "  ", " b"}},
		{"llama3/newlines", llama3, "x\n\ny", []string{"x", "\n\n", "y"}},
		{"llama3/space newline", llama3, "x  \n  y", []string{"x", "  \n", " ", " y"}},
		{"llama3/punct newline", llama3, "end.\n\nNext", []string{"end", ".\n\n", "Next"}},
		{"llama3/space digits", llama3, "a 12", []string{"a", " ", "12"}},
		{"llama3/trailing", llama3, "a  ", []string{"a", "  "}},
		{"llama3/emoji", llama3, "hi 👋🏽!", []string{"hi", " 👋🏽!"}},
		{"llama3/cjk", llama3, "你好，世界", []string{"你好", "，世界"}},

		{"qwen2/digits", qwen2, "1234 x12", []string{"1", "2", "3", "4", " x", "1", "2"}},
		{"qwen2/words", qwen2, "It's 3pm", []string{"It", "'s", " ", "3", "pm"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := words(tt.in, tt.split); !slices.Equal(got, tt.want) {
				t.Errorf("split(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestDecodeCpts(t *testing.T) {
	tests := []struct {
		in   string
		want []rune
	}{
		{"aé€😀", []rune{'a', 'é', '€', '😀'}},
		{"a\xffb", []rune{'a', 0xFFFD, 'b'}},
		{"\xe2\x82", []rune{0xFFFD, 0xFFFD}},                         // truncated: each byte replaced
		{"\xed\xa0\x80", []rune{0xD800}},                             // surrogates pass, as in llama.cpp
		{"\x80x", []rune{0xFFFD, 'x'}},                               // stray continuation byte
		{"\xf8\x88\x80\x80", []rune{0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD}}, // 5-byte lead
	}
	for _, tt := range tests {
		if got := decodeCpts(tt.in, nil); !slices.Equal(got, tt.want) {
			t.Errorf("decodeCpts(%q) = %U, want %U", tt.in, got, tt.want)
		}
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		c    rune
		want cptFlags
	}{
		{'a', flagLetter}, {'Z', flagLetter}, {'5', flagNumber}, {'!', flagPunctuation},
		{'$', flagSymbol}, {' ', flagSeparator | flagWhitespace}, {'\n', flagControl | flagWhitespace},
		{0x00A0, flagSeparator | flagWhitespace}, {'é', flagLetter}, {'你', flagLetter},
		{'²', flagNumber}, {0x0301, flagAccentMark}, {'😀', flagSymbol}, {0x10FFFF, flagUndefined},
		{0x110000, flagUndefined}, {0x1C, flagControl}, // not whitespace in llama.cpp
	}
	for _, tt := range tests {
		if got := flagsOf(tt.c); got != tt.want {
			t.Errorf("flagsOf(%U) = %#x, want %#x", tt.c, got, tt.want)
		}
	}
}
