package tokenizer

import (
	"cmp"
	"fmt"
	"slices"
)

// vocab is what a BPE and an SPM vocabulary have in common, built as
// llama_vocab::impl::load builds every vocabulary: the tokens, their types
// and attributes, the special tokens Encode cuts out, each token's piece, and
// the accessors of the Tokenizer interface. BPE and SPM embed it.
type vocab struct {
	tokens []string // as given (written back by Metadata)
	texts  []string // as llama.cpp sees them: empty tokens renamed
	types  []int32  // as given; nil means all normal
	attrs  []uint16 // after llama.cpp's control-token overrides
	pieces []string // token_to_piece(special=true) of each token

	bos, eos       int32
	addBOS, addEOS bool

	textToID map[string]int32 // token_to_id
	specials []int32          // control, user-defined and unknown tokens, longest first
}

// vocabSpec is what a vocab is built from.
type vocabSpec struct {
	tokens         []string
	types          []int32 // nil means all normal
	bos, eos       int32
	addBOS, addEOS bool
	// roles lists the special-token roles (eot, eom, fim_pre, ...) whose ids
	// the metadata gave; llama.cpp finds the others by their text and makes
	// those tokens control tokens.
	roles map[string]bool
	// check runs after the size checks and before the token checks, for the
	// checks only one kind of vocabulary has (nil: none).
	check func(n int) error
}

// newVocab checks and indexes a vocabulary: its size, types and BOS/EOS ids,
// unique token texts (an empty one renamed [EMPTY_i]), the attributes of the
// types with llama.cpp's control-token overrides, and the special tokens
// sorted longest first. The pieces are left to setPieces, which depends on
// the kind of vocabulary.
func newVocab(s vocabSpec) (vocab, error) {
	n := len(s.tokens)
	if n == 0 {
		return vocab{}, fmt.Errorf("tokenizer: empty vocabulary")
	}
	if n > 1<<31-1 {
		return vocab{}, fmt.Errorf("tokenizer: vocabulary of %d tokens is too large", n)
	}
	if s.check != nil {
		if err := s.check(n); err != nil {
			return vocab{}, err
		}
	}
	if s.types != nil && len(s.types) != n {
		return vocab{}, fmt.Errorf("tokenizer: %d token types for %d tokens", len(s.types), n)
	}
	for _, id := range []struct {
		name string
		id   int32
	}{{"bos", s.bos}, {"eos", s.eos}} {
		if id.id < 0 || int(id.id) >= n {
			return vocab{}, fmt.Errorf("tokenizer: %s token id %d out of range [0,%d)", id.name, id.id, n)
		}
	}
	v := vocab{
		tokens:   s.tokens,
		types:    s.types,
		bos:      s.bos,
		eos:      s.eos,
		addBOS:   s.addBOS,
		addEOS:   s.addEOS,
		texts:    make([]string, n),
		attrs:    make([]uint16, n),
		textToID: make(map[string]int32, n),
	}
	for i, text := range s.tokens {
		if text == "" {
			text = fmt.Sprintf("[EMPTY_%d]", i)
		}
		if prev, dup := v.textToID[text]; dup {
			// llama.cpp asserts that token texts are unique and aborts.
			return vocab{}, fmt.Errorf("tokenizer: tokens %d and %d are both %q", prev, i, text)
		}
		v.texts[i] = text
		v.textToID[text] = int32(i)
		v.attrs[i] = attrNormal
		if s.types != nil {
			v.attrs[i] = attrOfType(s.types[i])
		}
	}

	// Control-looking tokens become control tokens whatever their type.
	makeControl := func(text string) {
		if id, ok := v.textToID[text]; ok && v.attrs[id]&attrControl == 0 {
			v.attrs[id] = attrControl
		}
	}
	for role, texts := range roleTexts {
		if s.roles[role] {
			continue
		}
		for _, text := range texts {
			makeControl(text)
		}
	}
	for _, text := range eogTexts {
		makeControl(text)
	}

	for id, a := range v.attrs {
		if a&(attrControl|attrUserDefined|attrUnknown) != 0 {
			v.specials = append(v.specials, int32(id))
		}
	}
	// llama.cpp sorts by length only (unstable); ties go to the lower id here.
	slices.SortStableFunc(v.specials, func(a, b int32) int {
		return cmp.Compare(len(v.texts[b]), len(v.texts[a]))
	})
	return v, nil
}

// setPieces fills the pieces with piece(id) for every token.
func (v *vocab) setPieces(piece func(id int32) string) {
	v.pieces = make([]string, len(v.tokens))
	for id := range v.pieces {
		v.pieces[id] = piece(int32(id))
	}
}

// typesOrNormal returns the token types to write: as given, or all normal.
func (v *vocab) typesOrNormal() []int32 {
	if v.types != nil {
		return slices.Clone(v.types)
	}
	types := make([]int32, len(v.tokens))
	for i := range types {
		types[i] = TypeNormal
	}
	return types
}

// Size returns the number of tokens in the vocabulary.
func (v *vocab) Size() int { return len(v.tokens) }

// BOS returns the id of the beginning-of-sequence token.
func (v *vocab) BOS() int32 { return v.bos }

// EOS returns the id of the end-of-sequence token.
func (v *vocab) EOS() int32 { return v.eos }

// AddBOS reports whether Encode with addSpecial prepends the BOS token.
func (v *vocab) AddBOS() bool { return v.addBOS }

// Token returns the vocabulary text of token id as stored in
// tokenizer.ggml.tokens (GPT-2 byte-mapped for BPE, with ▁ for spaces for
// SPM), or "" when id is out of range.
func (v *vocab) Token(id int32) string {
	if id < 0 || int(id) >= len(v.tokens) {
		return ""
	}
	return v.tokens[id]
}

// Piece returns the bytes token id stands for, as llama.cpp's
// token_to_piece(special=true): special tokens as their text, unused tokens
// as nothing; a BPE byte token as nothing, an SPM byte token <0xXX> as its
// byte and an SPM ▁ as a space. It returns "" when id is out of range.
func (v *vocab) Piece(id int32) string {
	if id < 0 || int(id) >= len(v.pieces) {
		return ""
	}
	return v.pieces[id]
}

// IsSpecial reports whether id is a control, user-defined or unknown token,
// the tokens Encode recognizes by their text.
func (v *vocab) IsSpecial(id int32) bool {
	return id >= 0 && int(id) < len(v.attrs) && v.attrs[id]&(attrControl|attrUserDefined|attrUnknown) != 0
}
