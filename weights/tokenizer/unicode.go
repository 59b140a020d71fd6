package tokenizer

//go:generate go run gen_tables.go

import (
	"sort"
	"sync"
)

// Code point category flags, as llama.cpp's unicode_cpt_flags. Each code point
// has exactly one category; whitespace is a separate helper flag.
const (
	flagUndefined   = 0x01
	flagNumber      = 0x02 // \p{N}
	flagLetter      = 0x04 // \p{L}
	flagSeparator   = 0x08 // \p{Z}
	flagAccentMark  = 0x10 // \p{M}
	flagPunctuation = 0x20 // \p{P}
	flagSymbol      = 0x40 // \p{S}
	flagControl     = 0x80 // \p{C}

	// flagWhitespace marks \s; it lives above the category byte.
	flagWhitespace = 0x100
)

// cptFlags are llama.cpp's flags of one code point. The zero value means
// "outside the text", which matches no category (llama.cpp's OUT_OF_RANGE).
type cptFlags uint16

func (f cptFlags) isLetter() bool     { return f&flagLetter != 0 }
func (f cptFlags) isNumber() bool     { return f&flagNumber != 0 }
func (f cptFlags) isWhitespace() bool { return f&flagWhitespace != 0 }

// bmpFlags caches the flags of every code point below 0x10000; the rest are
// found by binary search in the range table.
var bmpFlags = sync.OnceValue(func() *[0x10000]cptFlags {
	var t [0x10000]cptFlags
	for i := 0; i+1 < len(cptRangeStarts); i++ {
		for c := cptRangeStarts[i]; c < cptRangeStarts[i+1] && c < 0x10000; c++ {
			t[c] = cptFlags(cptRangeFlags[i])
		}
	}
	for _, c := range whitespaceCpts {
		if c < 0x10000 {
			t[c] |= flagWhitespace
		}
	}
	return &t
})

// flagsOf returns the flags of code point c, as unicode_cpt_flags_from_cpt.
func flagsOf(c rune) cptFlags {
	if c < 0 {
		return flagUndefined
	}
	if c < 0x10000 {
		return bmpFlags()[c]
	}
	if c >= 0x110000 {
		return flagUndefined
	}
	i := sort.Search(len(cptRangeStarts), func(i int) bool { return cptRangeStarts[i] > uint32(c) }) - 1
	// No whitespace code point lies above the BMP.
	return cptFlags(cptRangeFlags[i])
}

// replacementChar is what llama.cpp substitutes for a byte that does not
// start a well-formed UTF-8 sequence.
const replacementChar = 0xFFFD

// decodeCpt decodes one code point at s[i:] exactly as llama.cpp's
// unicode_cpt_from_utf8 with the fallback of unicode_cpts_from_utf8: it checks
// only lead and continuation bit patterns (so surrogates and overlong forms
// pass), and turns any other byte into U+FFFD, consuming one byte.
func decodeCpt(s string, i int) (rune, int) {
	b0 := s[i]
	switch {
	case b0&0x80 == 0:
		return rune(b0), 1
	case b0&0x40 == 0:
		return replacementChar, 1
	case b0&0x20 == 0:
		if i+1 >= len(s) || s[i+1]&0xC0 != 0x80 {
			return replacementChar, 1
		}
		return rune(b0&0x1F)<<6 | rune(s[i+1]&0x3F), 2
	case b0&0x10 == 0:
		if i+2 >= len(s) || s[i+1]&0xC0 != 0x80 || s[i+2]&0xC0 != 0x80 {
			return replacementChar, 1
		}
		return rune(b0&0x0F)<<12 | rune(s[i+1]&0x3F)<<6 | rune(s[i+2]&0x3F), 3
	case b0&0x08 == 0:
		if i+3 >= len(s) || s[i+1]&0xC0 != 0x80 || s[i+2]&0xC0 != 0x80 || s[i+3]&0xC0 != 0x80 {
			return replacementChar, 1
		}
		c := rune(b0&0x07)<<18 | rune(s[i+1]&0x3F)<<12 | rune(s[i+2]&0x3F)<<6 | rune(s[i+3]&0x3F)
		if c > 0x10FFFF {
			// llama.cpp would throw while re-encoding this code point (and
			// Ollama's runner would abort); we degrade to U+FFFD instead.
			return replacementChar, 4
		}
		return c, 4
	}
	return replacementChar, 1
}

// decodeCpts decodes s into code points the way llama.cpp does.
func decodeCpts(s string, dst []rune) []rune {
	dst = dst[:0]
	for i := 0; i < len(s); {
		c, n := decodeCpt(s, i)
		dst = append(dst, c)
		i += n
	}
	return dst
}

// appendCpt appends the UTF-8 encoding of c as unicode_cpt_to_utf8 does; unlike
// utf8.AppendRune it keeps surrogate code points as three bytes.
func appendCpt(dst []byte, c rune) []byte {
	switch {
	case c <= 0x7F:
		return append(dst, byte(c))
	case c <= 0x7FF:
		return append(dst, 0xC0|byte(c>>6), 0x80|byte(c&0x3F))
	case c <= 0xFFFF:
		return append(dst, 0xE0|byte(c>>12), 0x80|byte(c>>6&0x3F), 0x80|byte(c&0x3F))
	default:
		return append(dst, 0xF0|byte(c>>18), 0x80|byte(c>>12&0x3F), 0x80|byte(c>>6&0x3F), 0x80|byte(c&0x3F))
	}
}
