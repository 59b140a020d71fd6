package tokenizer

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// TrainOptions configure Train.
type TrainOptions struct {
	// VocabSize is the total number of tokens wanted: 256 byte tokens, the
	// learned merges and the special tokens. Training stops early when the
	// corpus has no pair left to merge.
	VocabSize int
	// Specials are control tokens appended after the learned tokens, such as
	// "<|bos|>", "<|eos|>", "<|pad|>". Nil means exactly those three.
	Specials []string
	// BOS and EOS name the beginning- and end-of-sequence tokens among
	// Specials; they default to Specials[0] and Specials[1] (or Specials[0]
	// when there is only one).
	BOS, EOS string
	// Pre is the pre-tokenizer (tokenizer.ggml.pre); default "gpt-2".
	Pre string
}

// DefaultSpecials are the special tokens Train adds when none are given.
var DefaultSpecials = []string{"<|bos|>", "<|eos|>", "<|pad|>"}

// Train learns a byte-level BPE vocabulary from corpus. Token i < 256 is byte
// i (in GPT-2's byte-to-unicode form), the learned merges follow in order, and
// the special tokens come last. Words never cross pre-tokenizer boundaries or
// special tokens written in the corpus. Training is deterministic: the most
// frequent pair is merged first, ties going to the pair of lower token ids.
// The result adds BOS when encoding with addSpecial, and never EOS.
func Train(ctx context.Context, corpus []string, opts TrainOptions) (*BPE, error) {
	pre := opts.Pre
	if pre == "" {
		pre = PreGPT2
	}
	kind, err := lookupPre(pre)
	if err != nil {
		return nil, err
	}
	specials := opts.Specials
	if specials == nil {
		specials = DefaultSpecials
	}
	if len(specials) == 0 {
		return nil, fmt.Errorf("tokenizer: train: at least one special token (BOS) is required")
	}
	for i, sp := range specials {
		if sp == "" {
			return nil, fmt.Errorf("tokenizer: train: special token %d is empty", i)
		}
		if slices.Index(specials, sp) != i {
			return nil, fmt.Errorf("tokenizer: train: special token %q given twice", sp)
		}
	}
	bosText, eosText := opts.BOS, opts.EOS
	if bosText == "" {
		bosText = specials[0]
	}
	if eosText == "" {
		eosText = specials[min(1, len(specials)-1)]
	}
	if !slices.Contains(specials, bosText) || !slices.Contains(specials, eosText) {
		return nil, fmt.Errorf("tokenizer: train: BOS %q and EOS %q must be among the special tokens %q", bosText, eosText, specials)
	}
	if opts.VocabSize < 256+len(specials) {
		return nil, fmt.Errorf("tokenizer: train: vocab size %d is below 256 byte tokens + %d specials", opts.VocabSize, len(specials))
	}

	counts, err := countWords(ctx, corpus, specials, kind)
	if err != nil {
		return nil, err
	}
	tr := newTrainer(counts)
	tokens, merges, err := tr.run(ctx, opts.VocabSize-len(specials))
	if err != nil {
		return nil, err
	}

	known := make(map[string]bool, len(tokens))
	for _, tok := range tokens {
		known[tok] = true
	}
	types := make([]int32, len(tokens), len(tokens)+len(specials))
	for i := range types {
		types[i] = TypeNormal
	}
	for _, sp := range specials {
		if known[sp] {
			return nil, fmt.Errorf("tokenizer: train: special token %q collides with a byte or merged token", sp)
		}
		tokens = append(tokens, sp)
		types = append(types, TypeControl)
	}
	return newBPE(spec{
		pre:    pre,
		tokens: tokens,
		types:  types,
		merges: merges,
		bos:    int32(slices.Index(tokens, bosText)),
		eos:    int32(slices.Index(tokens, eosText)),
		addBOS: true,
	})
}

// countWords pre-tokenizes the corpus as Encode would and counts each word's
// raw bytes.
func countWords(ctx context.Context, corpus []string, specials []string, kind preKind) (map[string]int64, error) {
	counts := make(map[string]int64)
	var cpts []rune
	var ends []int
	var word []byte
	for i, doc := range corpus {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("tokenizer: train: %w", err)
			}
		}
		for _, frag := range splitSpecials(doc, specials) {
			cpts = decodeCpts(frag, cpts)
			ends = split(kind, cpts, ends[:0])
			start := 0
			for _, end := range ends {
				word = word[:0]
				for _, c := range cpts[start:end] {
					word = appendCpt(word, c)
				}
				start = end
				counts[string(word)]++
			}
		}
	}
	return counts, nil
}

// splitSpecials removes every occurrence of the special texts from doc and
// returns the text between them.
func splitSpecials(doc string, specials []string) []string {
	parts := []string{doc}
	for _, sp := range specials {
		var next []string
		for _, p := range parts {
			for _, q := range strings.Split(p, sp) {
				if q != "" {
					next = append(next, q)
				}
			}
		}
		parts = next
	}
	return parts
}

// trainWord is one distinct word of the corpus as a sequence of token ids.
type trainWord struct {
	syms  []int32
	count int64
}

// pairCount is a heap entry: a pair and its count when pushed.
type pairCount struct {
	pair  uint64
	count int64
}

// trainer keeps pair counts up to date incrementally: each merge only
// revisits the words that contain the merged pair.
type trainer struct {
	words  []trainWord
	counts map[uint64]int64
	where  map[uint64][]int32 // words that contain (or once contained) a pair
	heap   []pairCount
	seen   []int // last merge step that visited each word
}

func newTrainer(counts map[string]int64) *trainer {
	keys := make([]string, 0, len(counts))
	for w := range counts {
		keys = append(keys, w)
	}
	slices.Sort(keys) // deterministic word order
	tr := &trainer{
		words:  make([]trainWord, len(keys)),
		counts: make(map[uint64]int64),
		where:  make(map[uint64][]int32),
		seen:   make([]int, len(keys)),
	}
	for i, k := range keys {
		syms := make([]int32, len(k))
		for j := 0; j < len(k); j++ {
			syms[j] = int32(k[j])
		}
		tr.words[i] = trainWord{syms: syms, count: counts[k]}
		for j := 1; j < len(syms); j++ {
			p := pairKey(syms[j-1], syms[j])
			tr.counts[p] += counts[k]
			if w := tr.where[p]; len(w) == 0 || w[len(w)-1] != int32(i) {
				tr.where[p] = append(w, int32(i))
			}
		}
	}
	for p, c := range tr.counts {
		tr.heap = append(tr.heap, pairCount{p, c})
	}
	// Heapify.
	for i := len(tr.heap)/2 - 1; i >= 0; i-- {
		heapDown(tr.heap, i, before)
	}
	return tr
}

// run merges until there are want tokens or no pairs are left, returning the
// token texts and merge rules.
func (tr *trainer) run(ctx context.Context, want int) (tokens, merges []string, err error) {
	tokens = make([]string, 256, want)
	for b := range tokens {
		tokens[b] = byteToText[b]
	}
	ids := make(map[string]int32, want)
	for i, tok := range tokens {
		ids[tok] = int32(i)
	}
	delta := make(map[uint64]int64)
	for step := 1; len(tokens) < want; step++ {
		if step%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, nil, fmt.Errorf("tokenizer: train: %w", err)
			}
		}
		pair, ok := tr.best()
		if !ok {
			break
		}
		a, b := int32(pair>>32), int32(uint32(pair))
		text := tokens[a] + tokens[b]
		merges = append(merges, tokens[a]+" "+tokens[b])
		c, exists := ids[text]
		if !exists {
			c = int32(len(tokens))
			tokens = append(tokens, text)
			ids[text] = c
		}
		tr.merge(pair, a, b, c, step, delta)
	}
	return tokens, merges, nil
}

// best pops the most frequent pair (lowest ids on ties), skipping stale
// heap entries.
func (tr *trainer) best() (uint64, bool) {
	for len(tr.heap) > 0 {
		var top pairCount
		top, tr.heap = heapPop(tr.heap, before)
		cur := tr.counts[top.pair]
		switch {
		case cur <= 0:
			continue
		case cur == top.count:
			return top.pair, true
		case cur < top.count:
			tr.heap = heapPush(tr.heap, pairCount{top.pair, cur}, before) // decreased since pushed
		}
		// cur > top.count: a newer entry for this pair is in the heap.
	}
	return 0, false
}

// merge replaces every (a, b) by c in the words that contain it and updates
// the pair counts by the difference.
func (tr *trainer) merge(pair uint64, a, b, c int32, step int, delta map[uint64]int64) {
	clear(delta)
	for _, wi := range tr.where[pair] {
		if tr.seen[wi] == step {
			continue
		}
		tr.seen[wi] = step
		w := &tr.words[wi]
		if !containsPair(w.syms, a, b) {
			continue
		}
		for j := 1; j < len(w.syms); j++ {
			delta[pairKey(w.syms[j-1], w.syms[j])] -= w.count
		}
		out := w.syms[:0]
		for j := 0; j < len(w.syms); j++ {
			if j+1 < len(w.syms) && w.syms[j] == a && w.syms[j+1] == b {
				out = append(out, c)
				j++
				continue
			}
			out = append(out, w.syms[j])
		}
		w.syms = out
		for j := 1; j < len(w.syms); j++ {
			p := pairKey(w.syms[j-1], w.syms[j])
			delta[p] += w.count
			if w.syms[j-1] == c || w.syms[j] == c {
				if ws := tr.where[p]; len(ws) == 0 || ws[len(ws)-1] != wi {
					tr.where[p] = append(ws, wi)
				}
			}
		}
	}
	delete(tr.where, pair)
	// Apply in a fixed order so the heap's layout is deterministic too.
	keys := make([]uint64, 0, len(delta))
	for p, d := range delta {
		if d != 0 {
			keys = append(keys, p)
		}
	}
	slices.Sort(keys)
	for _, p := range keys {
		n := tr.counts[p] + delta[p]
		if n <= 0 {
			delete(tr.counts, p)
			continue
		}
		tr.counts[p] = n
		if delta[p] > 0 {
			tr.heap = heapPush(tr.heap, pairCount{p, n}, before)
		}
	}
}

func containsPair(syms []int32, a, b int32) bool {
	for j := 1; j < len(syms); j++ {
		if syms[j-1] == a && syms[j] == b {
			return true
		}
	}
	return false
}

// before orders heap entries: higher count first, then lower pair key (the
// left id, then the right id).
func before(x, y pairCount) bool {
	return x.count > y.count || (x.count == y.count && x.pair < y.pair)
}
