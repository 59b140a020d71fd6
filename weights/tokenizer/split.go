package tokenizer

// This file ports the pre-tokenizers of llama.cpp (unicode.cpp) that Ollama
// v0.6.5 runs for the supported tokenizer.ggml.pre values. Each splitter takes
// the code points of one text fragment and appends the end index of every
// word. They are hand-written because Go's regexp has no lookahead; they follow
// llama.cpp's own hand-written splitters line by line, including their quirks.

// outOfRange stands for a position outside the fragment.
const outOfRange rune = -1

// cursor gives bounds-checked access to a fragment's code points.
type cursor []rune

func (c cursor) cpt(i int) rune {
	if i >= 0 && i < len(c) {
		return c[i]
	}
	return outOfRange
}

func (c cursor) flags(i int) cptFlags {
	if i >= 0 && i < len(c) {
		return flagsOf(c[i])
	}
	return 0
}

// split runs the pre-tokenizer of kind on cpts, appending word ends to ends.
func split(kind preKind, cpts []rune, ends []int) []int {
	switch kind {
	case preLlama3:
		return splitLlama3(cpts, ends, 3)
	case preQwen2:
		return splitLlama3(cpts, ends, 1)
	case preSmolLM:
		return splitSmolLM(cpts, ends)
	}
	return splitGPT2(cpts, ends)
}

// splitSmolLM is llama.cpp's LLAMA_VOCAB_PRE_TYPE_SMOLLM (also codeshell,
// exaone, minerva-7b): the regex \p{N}, then the GPT-2 pattern within each
// piece. llama.cpp runs \p{N} with std::regex over category-collapsed text,
// so it matches the ASCII digits and every code point of 128 or more whose
// category is a number (whitespace is collapsed first, and no number is
// whitespace); each such code point becomes a word of its own.
func splitSmolLM(cpts []rune, ends []int) []int {
	start := 0
	gpt2 := func(end int) {
		if end > start {
			n := len(ends)
			ends = splitGPT2(cpts[start:end], ends)
			for i := n; i < len(ends); i++ {
				ends[i] += start
			}
		}
	}
	for i, c := range cpts {
		if (c >= '0' && c <= '9') || (c >= 128 && flagsOf(c)&0xff == flagNumber && !flagsOf(c).isWhitespace()) {
			gpt2(i)
			ends = append(ends, i+1)
			start = i + 1
		}
	}
	gpt2(len(cpts))
	return ends
}

// splitGPT2 is unicode_regex_split_custom_gpt2, the GPT-2 pattern
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
func splitGPT2(cpts []rune, ends []int) []int {
	c := cursor(cpts)
	n := len(cpts)
	for pos := 0; pos < n; {
		cpt := c.cpt(pos)
		flags := c.flags(pos)

		// 's|'t|'re|'ve|'m|'ll|'d (case sensitive)
		if k := contraction(c, pos, n, false); k > 0 {
			pos += k
			ends = append(ends, pos)
			continue
		}

		flags2 := flags
		if cpt == ' ' {
			flags2 = c.flags(pos + 1)
		}
		// <space>?\p{L}+
		if flags2.isLetter() {
			if cpt == ' ' {
				pos++
			}
			for flags2.isLetter() {
				pos++
				flags2 = c.flags(pos)
			}
			ends = append(ends, pos)
			continue
		}
		// <space>?\p{N}+
		if flags2.isNumber() {
			if cpt == ' ' {
				pos++
			}
			for flags2.isNumber() {
				pos++
				flags2 = c.flags(pos)
			}
			ends = append(ends, pos)
			continue
		}
		// <space>?[^\s\p{L}\p{N}]+
		if isOther(flags2) {
			if cpt == ' ' {
				pos++
			}
			for isOther(flags2) {
				pos++
				flags2 = c.flags(pos)
			}
			ends = append(ends, pos)
			continue
		}

		spaces := 0
		for c.flags(pos + spaces).isWhitespace() {
			spaces++
		}
		pos = whitespaceEnd(c, pos, spaces)
		ends = append(ends, pos)
	}
	return ends
}

// isOther reports [^\s\p{L}\p{N}] for a position inside the fragment.
func isOther(f cptFlags) bool {
	return f&(flagWhitespace|flagLetter|flagNumber) == 0 && f != 0
}

// splitLlama3 is unicode_regex_split_custom_llama3, the llama-3 pattern
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// With maxDigits 1 it is Qwen2's pattern (\p{N} instead of \p{N}{1,3}), which
// llama.cpp runs through std::regex over a category-collapsed copy of the text;
// with ASCII kept as is, non-ASCII whitespace as \v and other code points as
// their category, that regex sees the same classes as this splitter, and its
// backtracking semantics match the llama-3 splitter's choices.
func splitLlama3(cpts []rune, ends []int, maxDigits int) []int {
	c := cursor(cpts)
	n := len(cpts)
	for pos := 0; pos < n; {
		cpt := c.cpt(pos)
		flags := c.flags(pos)

		// (?i:'s|'t|'re|'ve|'m|'ll|'d)
		if k := contraction(c, pos, n, true); k > 0 {
			pos += k
			ends = append(ends, pos)
			continue
		}

		// [^\r\n\p{L}\p{N}]?\p{L}+
		if !(cpt == '\r' || cpt == '\n' || flags.isNumber()) {
			if flags.isLetter() || c.flags(pos+1).isLetter() {
				pos++
				for c.flags(pos).isLetter() {
					pos++
				}
				ends = append(ends, pos)
				continue
			}
		}

		// \p{N}{1,3}
		if flags.isNumber() {
			start := pos
			for c.flags(pos).isNumber() {
				pos++
				if pos-start >= maxDigits {
					ends = append(ends, pos)
					start = pos
				}
			}
			if pos > start {
				ends = append(ends, pos)
			}
			continue
		}

		// <space>?[^\s\p{L}\p{N}]+[\r\n]*
		flags2 := flags
		if cpt == ' ' {
			flags2 = c.flags(pos + 1)
		}
		// llama.cpp tests the current code point's flags here, not flags2, so a
		// lone trailing space is taken by this branch; the word is the same.
		if flags2&(flagWhitespace|flagLetter|flagNumber) == 0 && flags != 0 {
			if cpt == ' ' {
				pos++
			}
			for isOther(flags2) {
				pos++
				flags2 = c.flags(pos)
			}
			for cpt2 := c.cpt(pos); cpt2 == '\r' || cpt2 == '\n'; cpt2 = c.cpt(pos) {
				pos++
			}
			ends = append(ends, pos)
			continue
		}

		spaces := 0
		lastRN := 0
		for c.flags(pos + spaces).isWhitespace() {
			if cpt2 := c.cpt(pos + spaces); cpt2 == '\r' || cpt2 == '\n' {
				lastRN = pos + spaces + 1
			}
			spaces++
		}
		// \s*[\r\n]+
		if lastRN > 0 {
			pos = lastRN
			ends = append(ends, pos)
			continue
		}
		pos = whitespaceEnd(c, pos, spaces)
		ends = append(ends, pos)
	}
	return ends
}

// contraction returns the length of 's|'t|'re|'ve|'m|'ll|'d at pos, or 0;
// with fold, ASCII letters match in either case (llama-3's (?i:...)).
func contraction(c cursor, pos, n int, fold bool) int {
	if c.cpt(pos) != '\'' || pos+1 >= n {
		return 0
	}
	lower := func(r rune) rune {
		if fold {
			return asciiLower(r)
		}
		return r
	}
	next := lower(c.cpt(pos + 1))
	if next == 's' || next == 't' || next == 'm' || next == 'd' {
		return 2
	}
	if pos+2 < n {
		next2 := lower(c.cpt(pos + 2))
		if (next == 'r' && next2 == 'e') || (next == 'v' && next2 == 'e') || (next == 'l' && next2 == 'l') {
			return 3
		}
	}
	return 0
}

// whitespaceEnd is where the word at pos ends when it starts with spaces
// whitespace code points and no earlier alternative took it: \s+(?!\S)
// leaves the last space to prefix the next word, \s+ takes them all, and a
// code point no alternative matches is a word of its own.
func whitespaceEnd(c cursor, pos, spaces int) int {
	switch {
	case spaces > 1 && c.cpt(pos+spaces) != outOfRange:
		return pos + spaces - 1
	case spaces > 0:
		return pos + spaces
	}
	return pos + 1
}

// asciiLower is unicode_tolower restricted to what the contraction test can
// observe: the only non-ASCII code points llama.cpp lowers to ASCII are U+0130
// (to 'i') and U+212A (to 'k'), neither of which starts a contraction.
func asciiLower(r rune) rune {
	if 'A' <= r && r <= 'Z' {
		return r + 'a' - 'A'
	}
	return r
}
