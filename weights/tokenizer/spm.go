package tokenizer

import (
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// spmSpace is the character SentencePiece writes for a space (U+2581).
const spmSpace = "\u2581"

// SPM is a SentencePiece tokenizer, the one of GGUF models whose
// tokenizer.ggml.model is "llama" (gemma, llama-2, mistral). It encodes as
// llama.cpp's llm_tokenizer_spm does (llama_tokenize with parse_special=true):
// special tokens written in the text are cut out first (longest first); in
// each remaining piece a space is prepended when add_space_prefix is set and
// the piece starts the text or follows a special token, spaces become ▁, and
// adjacent symbols (UTF-8 characters at first) merge while some pair forms a
// token, the pair whose token has the highest score first (the leftmost on
// ties); a symbol that is not a token falls back to its byte tokens <0xXX>.
// It is immutable after construction and safe for concurrent use.
type SPM struct {
	vocab
	scores         []float32 // nil means all zero
	unk            int32
	addSpacePrefix bool

	byteID [256]int32 // token of each byte (byte_to_token), or unk
}

var _ Tokenizer = (*SPM)(nil)

// SPMSpec describes a SentencePiece vocabulary as GGUF metadata holds it.
type SPMSpec struct {
	// Tokens, Scores and Types are tokenizer.ggml.tokens, .scores and
	// .token_type. Scores and Types may be nil (all zero, all normal).
	Tokens []string
	Scores []float32
	Types  []int32
	// BOS, EOS and UNK are the special token ids (llama.cpp's defaults for
	// SPM are 1, 2 and 0).
	BOS, EOS, UNK int32
	// AddBOS and AddEOS say whether Encode with addSpecial adds BOS and EOS
	// (llama.cpp's defaults: true, false).
	AddBOS, AddEOS bool
	// AddSpacePrefix is tokenizer.ggml.add_space_prefix (llama.cpp's default
	// true; false for gemma).
	AddSpacePrefix bool
	// Roles lists the special-token roles (eot, eom, fim_pre, ...) whose ids
	// the metadata gives; llama.cpp finds the others by their text and makes
	// those tokens control tokens.
	Roles map[string]bool
}

// NewSPM builds a SentencePiece tokenizer as llama_vocab::impl::load does for
// a "llama" vocabulary.
func NewSPM(s SPMSpec) (*SPM, error) {
	v, err := newVocab(vocabSpec{tokens: s.Tokens, types: s.Types, bos: s.BOS, eos: s.EOS,
		addBOS: s.AddBOS, addEOS: s.AddEOS, roles: s.Roles,
		check: func(n int) error {
			if s.Scores != nil && len(s.Scores) != n {
				return fmt.Errorf("tokenizer: %d scores for %d tokens", len(s.Scores), n)
			}
			return nil
		}})
	if err != nil {
		return nil, err
	}
	if s.UNK < 0 || int(s.UNK) >= len(s.Tokens) {
		return nil, fmt.Errorf("tokenizer: unknown token id %d out of range [0,%d)", s.UNK, len(s.Tokens))
	}
	t := &SPM{vocab: v, scores: s.Scores, unk: s.UNK, addSpacePrefix: s.AddSpacePrefix}
	const hex = "0123456789ABCDEF"
	for b := range t.byteID {
		// byte_to_token: <0xXX>, else the byte as a one-character token.
		// llama.cpp throws when neither exists; the unknown token stands in.
		id, ok := t.textToID[string([]byte{'<', '0', 'x', hex[b>>4], hex[b&15], '>'})]
		if !ok {
			id, ok = t.textToID[string([]byte{byte(b)})]
		}
		if !ok {
			id = t.unk
		}
		t.byteID[b] = id
	}
	t.setPieces(t.piece)
	return t, nil
}

// piece is llama.cpp's token_to_piece(special=true) for an SPM vocabulary.
func (t *SPM) piece(id int32) string {
	a := t.attrs[id]
	switch {
	case a&(attrUnknown|attrControl|attrUserDefined) != 0:
		return t.texts[id]
	case a&attrNormal != 0:
		return strings.ReplaceAll(t.texts[id], spmSpace, " ")
	case a&attrByte != 0:
		// token_to_byte reads the two hex digits of <0xXX>.
		if b, ok := parseByteToken(t.texts[id]); ok {
			return string([]byte{b})
		}
	}
	return "" // unused and undefined tokens render as nothing
}

// parseByteToken parses a byte token's text <0xXX>.
func parseByteToken(text string) (byte, bool) {
	if len(text) != 6 || !strings.HasPrefix(text, "<0x") || text[5] != '>' {
		return 0, false
	}
	var b byte
	for _, c := range []byte(text[3:5]) {
		switch {
		case '0' <= c && c <= '9':
			b = b<<4 | (c - '0')
		case 'A' <= c && c <= 'F':
			b = b<<4 | (c - 'A' + 10)
		case 'a' <= c && c <= 'f':
			b = b<<4 | (c - 'a' + 10)
		default:
			return 0, false
		}
	}
	return b, true
}

// Encode tokenizes text as llama_tokenize(text, addSpecial, parse_special=true)
// does for an SPM vocabulary.
func (t *SPM) Encode(text string, addSpecial bool) []int32 {
	out := make([]int32, 0, len(text)/3+2)
	if addSpecial && t.addBOS {
		out = append(out, t.bos)
	}
	s := spmSessions.Get().(*spmSession)
	prevSpecial := true // a space is prefixed to the first piece
	var buf strings.Builder
	for _, f := range partition(text, t.specials, t.texts) {
		if f.id >= 0 {
			out = append(out, f.id)
			prevSpecial = true
			continue
		}
		buf.Reset()
		if t.addSpacePrefix && prevSpecial {
			buf.WriteString(spmSpace)
		}
		for i := 0; i < len(f.text); {
			j := strings.IndexByte(f.text[i:], ' ')
			if j < 0 {
				buf.WriteString(f.text[i:])
				break
			}
			buf.WriteString(f.text[i : i+j])
			buf.WriteString(spmSpace)
			i += j + 1
		}
		piece := buf.String()
		for len(piece) > maxSPMPiece {
			cut := maxSPMPiece
			for cut > maxSPMPiece-4 && !utf8.RuneStart(piece[cut]) {
				cut--
			}
			out = t.encodePiece(s, piece[:cut], out)
			piece = piece[cut:]
		}
		out = t.encodePiece(s, piece, out)
		prevSpecial = false
	}
	if cap(s.syms) <= maxPooledSymbols {
		spmSessions.Put(s)
	}
	if addSpecial && t.addEOS {
		out = append(out, t.eos)
	}
	return out
}

// spmSymbol is a piece of the text during merging: bytes [start, start+n),
// linked to its neighbours; n == 0 marks a symbol merged away. Fields are
// 32-bit to halve the memory of long pieces (maxSPMPiece bounds the offsets).
type spmSymbol struct {
	prev, next int32
	start, n   int32
}

// spmBigram is a candidate merge of two adjacent symbols.
type spmBigram struct {
	left, right int32
	score       float32
	size        int32 // bytes of the merged text, to detect stale entries
}

// maxSPMPiece is the longest piece merged as one; a longer one (over 1 GiB,
// which llama.cpp would need tens of GiB for) is merged in parts of this size.
const maxSPMPiece = 1 << 30

// maxPooledSymbols bounds the scratch buffers kept for reuse after a call, so
// one huge text does not pin its buffers.
const maxPooledSymbols = 1 << 20

// spmSession holds scratch buffers reused across calls.
type spmSession struct {
	syms  []spmSymbol
	queue []spmBigram
}

var spmSessions = sync.Pool{New: func() any { return new(spmSession) }}

// utf8Len is llama.cpp's unicode_len_utf8: the length of a UTF-8 sequence
// from its first byte, 1 for a byte that cannot start one.
func utf8Len(b byte) int {
	return [16]int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4}[b>>4]
}

// encodePiece is llm_tokenizer_spm_session::tokenize on one escaped piece.
func (t *SPM) encodePiece(s *spmSession, text string, out []int32) []int32 {
	if text == "" {
		return out
	}
	count := 0
	for offs := 0; offs < len(text); count++ {
		offs += utf8Len(text[offs])
	}
	if cap(s.syms) < count {
		s.syms = make([]spmSymbol, 0, count)
	}
	if cap(s.queue) < count {
		s.queue = make([]spmBigram, 0, count)
	}
	s.syms = s.syms[:0]
	for offs := 0; offs < len(text); {
		n := min(utf8Len(text[offs]), len(text)-offs)
		i := int32(len(s.syms))
		next := i + 1
		if offs+n == len(text) {
			next = -1
		}
		s.syms = append(s.syms, spmSymbol{prev: i - 1, next: next, start: int32(offs), n: int32(n)})
		offs += n
	}
	s.queue = s.queue[:0]
	for i := int32(1); i < int32(len(s.syms)); i++ {
		t.tryBigram(s, text, i-1, i)
	}
	for len(s.queue) > 0 {
		var b spmBigram
		b, s.queue = heapPop(s.queue, spmBigram.before)
		l, r := &s.syms[b.left], &s.syms[b.right]
		if l.n == 0 || r.n == 0 || l.n+r.n != b.size {
			continue // one side was merged since
		}
		l.n += r.n
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			s.syms[r.next].prev = b.left
		}
		t.tryBigram(s, text, l.prev, b.left)
		t.tryBigram(s, text, b.left, l.next)
	}
	for i := int32(0); i != -1; i = s.syms[i].next {
		sym := s.syms[i]
		piece := text[sym.start : sym.start+sym.n]
		if id, ok := t.textToID[piece]; ok {
			out = append(out, id)
			continue
		}
		// A merged symbol is always a token, so this is one character that
		// is not (llama.cpp's resegment then finds no merge to undo): its
		// bytes.
		for j := 0; j < len(piece); j++ {
			out = append(out, t.byteID[piece[j]])
		}
	}
	return out
}

// tryBigram queues the merge of symbols left and right if their text is a
// token (of any type, as llama.cpp's text_to_token).
func (t *SPM) tryBigram(s *spmSession, text string, left, right int32) {
	if left < 0 || right < 0 {
		return
	}
	l, r := s.syms[left], s.syms[right]
	merged := text[l.start : r.start+r.n]
	id, ok := t.textToID[merged]
	if !ok {
		return
	}
	var score float32
	if t.scores != nil {
		score = t.scores[id]
	}
	s.queue = heapPush(s.queue, spmBigram{left: left, right: right, score: score, size: int32(len(merged))}, spmBigram.before)
}

// before is llm_bigram_spm's order: higher score first, then leftmost.
func (a spmBigram) before(b spmBigram) bool {
	return a.score > b.score || (a.score == b.score && a.left < b.left)
}

// UNK returns the id of the unknown token.
func (t *SPM) UNK() int32 { return t.unk }

// AddSpacePrefix reports whether Encode prefixes a space to the text and to
// the text after each special token (tokenizer.ggml.add_space_prefix).
func (t *SPM) AddSpacePrefix() bool { return t.addSpacePrefix }

// Decode returns the concatenated Piece of every id; ids out of range render
// as nothing. Unlike BPE.Decode it keeps NUL bytes: SPM models such as gemma3
// run on Ollama's own engine, which does not trim them. For valid UTF-8 s
// without ▁ (U+2581), Decode(Encode(s, false)) == s when add_space_prefix is
// off and no user-defined or unused token has a text the merges can form
// (true of gemma's vocabulary as Ollama converts it).
func (t *SPM) Decode(ids []int32) string {
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(t.Piece(id))
	}
	return b.String()
}
