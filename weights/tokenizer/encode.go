package tokenizer

import (
	"strings"
	"sync"
)

// fragment is a piece of the input: raw text, or a special token (id >= 0).
type fragment struct {
	text string
	id   int32
}

// Encode tokenizes text as llama_tokenize(text, addSpecial, parse_special=true)
// does: special tokens written in the text are recognized (longest first),
// the rest is pre-tokenized and merged, and with addSpecial the BOS and EOS
// tokens are added when the vocabulary asks for them (add_bos/add_eos).
func (t *BPE) Encode(text string, addSpecial bool) []int32 {
	out := make([]int32, 0, len(text)/3+2)
	if addSpecial && t.addBOS {
		out = append(out, t.bos)
	}
	s := sessionPool.Get().(*session)
	for _, f := range partition(text, t.specials, t.texts) {
		if f.id >= 0 {
			out = append(out, f.id)
			continue
		}
		out = t.encodeText(s, f.text, out)
	}
	if cap(s.cpts) <= maxPooledSymbols {
		sessionPool.Put(s)
	}
	if addSpecial && t.addEOS {
		out = append(out, t.eos)
	}
	return out
}

// partition is tokenizer_st_partition with parse_special: it cuts text at
// every occurrence of every special token (ids into texts, longest first).
func partition(text string, specials []int32, texts []string) []fragment {
	if text == "" {
		return nil
	}
	frags := []fragment{{text: text, id: -1}}
	var next []fragment
	for _, id := range specials {
		sp := texts[id]
		found := false
		for _, f := range frags {
			if f.id < 0 && strings.Contains(f.text, sp) {
				found = true
				break
			}
		}
		if !found {
			continue
		}
		next = next[:0]
		for _, f := range frags {
			if f.id >= 0 {
				next = append(next, f)
				continue
			}
			rest := f.text
			for {
				i := strings.Index(rest, sp)
				if i < 0 {
					break
				}
				if i > 0 {
					next = append(next, fragment{text: rest[:i], id: -1})
				}
				next = append(next, fragment{id: id})
				rest = rest[i+len(sp):]
			}
			if rest != "" {
				next = append(next, fragment{text: rest, id: -1})
			}
		}
		frags, next = next, frags
	}
	return frags
}

// symbol is one piece of a word during merging: bytes [start, start+n) of the
// word, linked to its neighbours. n == 0 marks a symbol merged away.
type symbol struct {
	prev, next int
	start, n   int
	id         int32 // token of the symbol's text, or -1
}

// bigram is a candidate merge of two adjacent symbols.
type bigram struct {
	left, right int
	rank        int32
	size        int   // bytes of the merged text, to detect stale entries
	id          int32 // token of the merged text, or -1
}

// session holds scratch buffers reused across words and calls.
type session struct {
	cpts  []rune
	ends  []int
	word  []byte
	syms  []symbol
	queue []bigram
}

var sessionPool = sync.Pool{New: func() any { return new(session) }}

// encodeText pre-tokenizes one raw-text fragment and appends its tokens.
func (t *BPE) encodeText(s *session, text string, out []int32) []int32 {
	s.cpts = decodeCpts(text, s.cpts)
	s.ends = split(t.kind, s.cpts, s.ends[:0])
	start := 0
	for _, end := range s.ends {
		s.word = s.word[:0]
		for _, c := range s.cpts[start:end] {
			s.word = appendCpt(s.word, c)
		}
		start = end
		out = t.encodeWord(s, s.word, out)
	}
	return out
}

// encodeWord runs llm_tokenizer_bpe_session::tokenize on one pre-tokenized
// word given as raw bytes: merge the adjacent pair of lowest rank (leftmost
// first) until none is left, then emit the tokens of the symbols.
func (t *BPE) encodeWord(s *session, word []byte, out []int32) []int32 {
	if len(word) == 0 {
		return out
	}
	if t.ignoreM {
		if id, ok := t.rawToID[string(word)]; ok {
			return append(out, id)
		}
	}
	if len(word) == 1 && t.byteID[word[0]] >= 0 {
		return append(out, t.byteID[word[0]])
	}

	// One symbol per byte: every byte is one character of the mapped text.
	syms := s.syms[:0]
	for i, b := range word {
		next := i + 1
		if next == len(word) {
			next = -1
		}
		syms = append(syms, symbol{prev: i - 1, next: next, start: i, n: 1, id: t.byteID[b]})
	}
	s.syms = syms
	s.queue = s.queue[:0]
	for i := 1; i < len(syms); i++ {
		t.addBigram(s, word, i-1, i)
	}
	for len(s.queue) > 0 {
		var bg bigram
		bg, s.queue = heapPop(s.queue, less)
		left, right := &s.syms[bg.left], &s.syms[bg.right]
		if left.n == 0 || right.n == 0 || left.n+right.n != bg.size {
			continue // outdated: one side has changed since it was queued
		}
		left.n += right.n
		left.id = bg.id
		right.n = 0
		left.next = right.next
		if right.next >= 0 {
			s.syms[right.next].prev = bg.left
		}
		t.addBigram(s, word, left.prev, bg.left)
		t.addBigram(s, word, bg.left, left.next)
	}

	for i := 0; i != -1; i = s.syms[i].next {
		sym := s.syms[i]
		if sym.id >= 0 {
			out = append(out, sym.id)
			continue
		}
		// Not a token: fall back to the tokens of the single bytes of its
		// mapped text, skipping bytes that have none (as llama.cpp does).
		for _, b := range word[sym.start : sym.start+sym.n] {
			mapped := byteToText[b]
			for j := 0; j < len(mapped); j++ {
				if id := t.lookup(mapped[j : j+1]); id >= 0 {
					out = append(out, id)
				}
			}
		}
	}
	return out
}

// addBigram queues the merge of symbols left and right if a rule exists.
func (t *BPE) addBigram(s *session, word []byte, left, right int) {
	if left < 0 || right < 0 {
		return
	}
	l, r := &s.syms[left], &s.syms[right]
	var m mergeInfo
	if l.id >= 0 && r.id >= 0 {
		var ok bool
		if m, ok = t.pairs[pairKey(l.id, r.id)]; !ok {
			return
		}
	} else {
		// A symbol that is not a token can still take part in a merge rule.
		lt := encodeBytes(string(word[l.start : l.start+l.n]))
		rt := encodeBytes(string(word[r.start : r.start+r.n]))
		rank, ok := t.ranks[lt+" "+rt]
		if !ok {
			return
		}
		m = mergeInfo{rank: rank, id: t.lookup(lt + rt)}
	}
	s.queue = heapPush(s.queue, bigram{left: left, right: right, rank: m.rank, size: l.n + r.n, id: m.id}, less)
}

// less orders the queue as llama.cpp's comparator: lowest rank first, then
// leftmost.
func less(a, b bigram) bool {
	return a.rank < b.rank || (a.rank == b.rank && a.left < b.left)
}
