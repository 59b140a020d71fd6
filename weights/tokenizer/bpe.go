// Package tokenizer implements the byte-level BPE tokenizer of GGUF models
// whose tokenizer.ggml.model is "gpt2", encoding exactly as the llama.cpp
// runner of Ollama v0.6.5 does (llama_tokenize with parse_special=true), and
// trains new byte-level BPE vocabularies for the project's own small models.
//
// The pre-tokenizers "gpt-2", "llama-bpe" (llama-3), "qwen2" and "smollm" are supported,
// with llama.cpp's code point categories (its Unicode tables, not Go's).
package tokenizer

import (
	"fmt"
	"slices"
	"strings"
)

// Token types as stored in tokenizer.ggml.token_type (llama_token_type).
const (
	TypeUndefined   int32 = 0
	TypeNormal      int32 = 1
	TypeUnknown     int32 = 2
	TypeControl     int32 = 3
	TypeUserDefined int32 = 4
	TypeUnused      int32 = 5
	TypeByte        int32 = 6
)

// Token attributes (llama_token_attr), derived from the token types.
const (
	attrUnknown     = 1 << 0
	attrUnused      = 1 << 1
	attrNormal      = 1 << 2
	attrControl     = 1 << 3
	attrUserDefined = 1 << 4
	attrByte        = 1 << 5
)

// Pre-tokenizer names as written in tokenizer.ggml.pre.
const (
	PreGPT2     = "gpt-2"
	PreLlamaBPE = "llama-bpe"
	PreQwen2    = "qwen2"
	PreSmolLM   = "smollm"
)

// preKind is the llama.cpp pre-tokenizer family a tokenizer.ggml.pre value selects.
type preKind int

const (
	preGPT2 preKind = iota
	preLlama3
	preQwen2
	preSmolLM
)

// preAliases maps every tokenizer.ggml.pre value we accept to its family, as
// llama_vocab::impl::load does. Families with other regexes are not ported,
// nor are jina-v2-{de,es,code}, whose <mask> token strips spaces on its left.
var preAliases = map[string]preKind{
	"gpt-2": preGPT2, "phi-2": preGPT2, "jina-es": preGPT2, "jina-de": preGPT2,
	"gigachat": preGPT2, "jina-v1-en": preGPT2, "roberta-bpe": preGPT2,
	"mpt": preGPT2, "olmo": preGPT2, "jais": preGPT2,
	"llama3": preLlama3, "llama-v3": preLlama3, "llama-bpe": preLlama3, "falcon3": preLlama3,
	"dbrx": preLlama3, "smaug-bpe": preLlama3,
	"qwen2": preQwen2, "deepseek-r1-qwen": preQwen2, "megrez": preQwen2, "stablelm2": preQwen2,
	"smollm": preSmolLM, "codeshell": preSmolLM, "exaone": preSmolLM, "minerva-7b": preSmolLM,
}

// llama3Flags reports whether llama.cpp sets ignore_merges and defaults
// add_bos to true for pre: only the llama-3 names do, not dbrx or smaug-bpe,
// which merely share the regex.
func llama3Flags(pre string) bool {
	switch pre {
	case "llama3", "llama-v3", "llama-bpe", "falcon3":
		return true
	}
	return false
}

// SupportedPre lists the accepted tokenizer.ggml.pre values, sorted.
func SupportedPre() []string {
	names := make([]string, 0, len(preAliases))
	for name := range preAliases {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func lookupPre(pre string) (preKind, error) {
	kind, ok := preAliases[pre]
	if !ok {
		return 0, fmt.Errorf("tokenizer: unsupported pre-tokenizer %q (supported: %s)", pre, strings.Join(SupportedPre(), ", "))
	}
	return kind, nil
}

// mergeInfo is one merge rule as seen from a pair of token ids.
type mergeInfo struct {
	rank int32
	id   int32 // token id of the merged text, or -1
}

// BPE is a byte-level BPE tokenizer. It is immutable after construction and
// safe for concurrent use.
type BPE struct {
	vocab
	pre     string
	kind    preKind
	merges  []string
	ignoreM bool // llama-3: a word that is a token skips the merges

	rawToID map[string]int32 // token_to_id keyed by the raw bytes a token stands for
	byteID  [256]int32       // token of each single byte, or -1
	pairs   map[uint64]mergeInfo
	ranks   map[string]int32 // "left right" -> rank, for symbols that are not tokens
}

// spec is everything a BPE is built from, already resolved to llama.cpp's
// defaults.
type spec struct {
	pre    string
	tokens []string
	types  []int32
	merges []string
	bos    int32
	eos    int32
	addBOS bool
	addEOS bool
	// roles lists the special-token roles (eot, eom, fim_pre, ...) whose ids
	// the metadata gave; llama.cpp finds the others by their text.
	roles map[string]bool
}

// Texts llama.cpp treats as control tokens even when typed otherwise.
var (
	eogTexts  = []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>"}
	roleTexts = map[string][]string{
		"eot":     {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>", "<｜end▁of▁sentence｜>"},
		"eom":     {"<|eom_id|>"},
		"fim_pre": {"<|fim_prefix|>", "<fim-prefix>", "<｜fim▁begin｜>", "<PRE>"},
		"fim_suf": {"<|fim_suffix|>", "<fim-suffix>", "<｜fim▁hole｜>", "<SUF>"},
		"fim_mid": {"<|fim_middle|>", "<fim-middle>", "<｜fim▁end｜>", "<MID>"},
		"fim_pad": {"<|fim_pad|>", "<fim-pad>", "<PAD>"},
		"fim_rep": {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>"},
		"fim_sep": {"<|file_sep|>"},
	}
)

// newBPE builds a tokenizer as llama_vocab::impl::load does for a "gpt2" vocab.
func newBPE(s spec) (*BPE, error) {
	kind, err := lookupPre(s.pre)
	if err != nil {
		return nil, err
	}
	v, err := newVocab(vocabSpec{tokens: s.tokens, types: s.types, bos: s.bos, eos: s.eos,
		addBOS: s.addBOS, addEOS: s.addEOS, roles: s.roles})
	if err != nil {
		return nil, err
	}
	t := &BPE{
		vocab:   v,
		pre:     s.pre,
		kind:    kind,
		merges:  s.merges,
		ignoreM: llama3Flags(s.pre),
		rawToID: make(map[string]int32, len(s.tokens)),
	}
	for text, id := range t.textToID {
		if raw, ok := decodeText(text); ok {
			t.rawToID[raw] = id
		}
	}
	for b := range t.byteID {
		t.byteID[b] = t.lookup(byteToText[b])
	}

	t.pairs = make(map[uint64]mergeInfo, len(s.merges))
	t.ranks = make(map[string]int32, len(s.merges))
	for i, m := range s.merges {
		// As llama.cpp: split at the first space after the first byte; a line
		// without one is kept as an empty pair.
		var left, right string
		if sp := strings.IndexByte(m[min(1, len(m)):], ' '); sp >= 0 {
			sp += min(1, len(m))
			left, right = m[:sp], m[sp+1:]
		}
		key := left + " " + right
		if _, dup := t.ranks[key]; dup {
			continue // the first rank wins
		}
		t.ranks[key] = int32(i)
		l, lok := t.textToID[left]
		r, rok := t.textToID[right]
		if lok && rok {
			t.pairs[pairKey(l, r)] = mergeInfo{rank: int32(i), id: t.lookup(left + right)}
		}
	}

	t.setPieces(t.piece)
	return t, nil
}

func pairKey(l, r int32) uint64 { return uint64(uint32(l))<<32 | uint64(uint32(r)) }

// lookup is text_to_token: the id of a token text, or -1.
func (t *BPE) lookup(text string) int32 {
	if id, ok := t.textToID[text]; ok {
		return id
	}
	return -1
}

func attrOfType(typ int32) uint16 {
	switch typ {
	case TypeUnknown:
		return attrUnknown
	case TypeUnused:
		return attrUnused
	case TypeNormal:
		return attrNormal
	case TypeControl:
		return attrControl
	case TypeUserDefined:
		return attrUserDefined
	case TypeByte:
		return attrByte
	}
	return 0
}

// piece is llama.cpp's token_to_piece(special=true) for a BPE vocabulary.
func (t *BPE) piece(id int32) string {
	a := t.attrs[id]
	switch {
	case a&(attrUnknown|attrControl|attrUserDefined) != 0:
		return t.texts[id]
	case a&attrNormal != 0:
		return decodePiece(t.texts[id])
	}
	return "" // byte, unused and undefined tokens render as nothing
}

// decodePiece is llama_decode_text: mapped characters become their bytes and
// any other character becomes a visible marker.
func decodePiece(text string) string {
	var b strings.Builder
	for i := 0; i < len(text); {
		c, n := decodeCpt(text, i)
		i += n
		if by, ok := runeToByte[c]; ok {
			b.WriteByte(by)
			continue
		}
		utf := appendCpt(nil, c)
		b.WriteString("[UNK_BYTE_0x")
		for _, x := range utf {
			fmt.Fprintf(&b, "%02x", x)
		}
		b.WriteString(text)
		b.WriteString("]")
	}
	return b.String()
}

// Pre returns the pre-tokenizer name (tokenizer.ggml.pre).
func (t *BPE) Pre() string { return t.pre }

// Decode returns the text of ids as Ollama's llama.cpp runner renders them:
// each token's Piece with trailing NUL bytes trimmed (Ollama's TokenToPiece
// does that), concatenated without llama.cpp's clean-up of spaces. Ids out of
// range render as nothing. For text without NUL bytes,
// Decode(Encode(s, false)) == s when s is valid UTF-8.
func (t *BPE) Decode(ids []int32) string {
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(strings.TrimRight(t.Piece(id), "\x00"))
	}
	return b.String()
}
