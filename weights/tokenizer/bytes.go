package tokenizer

import "unicode/utf8"

// byteToRune is GPT-2's reversible byte-to-unicode mapping: printable Latin-1
// bytes stand for themselves and the other 68 bytes are moved to U+0100 and up,
// so every byte sequence becomes a string without spaces or control characters.
var byteToRune, runeToByte = func() ([256]rune, map[rune]byte) {
	var fwd [256]rune
	var set [256]bool
	for b := 0; b < 256; b++ {
		if ('!' <= b && b <= '~') || (0xA1 <= b && b <= 0xAC) || (0xAE <= b && b <= 0xFF) {
			fwd[b] = rune(b)
			set[b] = true
		}
	}
	n := 0
	for b := 0; b < 256; b++ {
		if !set[b] {
			fwd[b] = rune(256 + n)
			n++
		}
	}
	inv := make(map[rune]byte, 256)
	for b, r := range fwd {
		inv[r] = byte(b)
	}
	return fwd, inv
}()

// byteToText holds the UTF-8 form of byteToRune, ready to concatenate.
var byteToText = func() [256]string {
	var t [256]string
	for b, r := range byteToRune {
		t[b] = string(r)
	}
	return t
}()

// encodeBytes maps raw bytes to the vocabulary's text form.
func encodeBytes(raw string) string {
	buf := make([]byte, 0, 2*len(raw))
	for i := 0; i < len(raw); i++ {
		buf = utf8.AppendRune(buf, byteToRune[raw[i]])
	}
	return string(buf)
}

// decodeText maps a vocabulary text back to raw bytes. ok is false when the
// text holds a character outside the byte mapping (or invalid UTF-8).
func decodeText(text string) (raw string, ok bool) {
	buf := make([]byte, 0, len(text))
	for _, r := range text {
		b, found := runeToByte[r]
		if !found {
			return "", false
		}
		buf = append(buf, b)
	}
	return string(buf), true
}
