package train

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/fastslow/fastslow/weights/llama"
)

// Encoder turns text into token ids. Encode's second argument asks for the beginning-of-sequence
// token to be prepended; EOS is the end-of-sequence token.
type Encoder interface {
	Encode(text string, addBOS bool) []int32
	EOS() int32
}

// SFTSequence builds a supervised fine-tuning sequence: the prompt's tokens (with BOS) as context,
// then the completion's tokens and EOS, which carry the loss, so the model learns to answer the
// prompt and to stop. It fails if the prompt encodes to no tokens, since the first prediction needs
// context, or if the sequence is longer than ctxLen tokens.
func SFTSequence(tok Encoder, prompt, completion string, ctxLen int) (llama.Sequence, error) {
	if tok == nil {
		return llama.Sequence{}, fmt.Errorf("train: SFT sequence: nil encoder")
	}
	if ctxLen <= 0 {
		return llama.Sequence{}, fmt.Errorf("train: SFT sequence: context length %d, must be positive", ctxLen)
	}
	p := tok.Encode(prompt, true)
	if len(p) == 0 {
		return llama.Sequence{}, fmt.Errorf("train: SFT sequence: prompt %q encodes to no tokens", truncate(prompt))
	}
	c := tok.Encode(completion, false)
	n := len(p) + len(c) + 1
	if n > ctxLen {
		return llama.Sequence{}, fmt.Errorf("train: SFT sequence: %d prompt + %d completion tokens + EOS = %d exceed the context length %d (prompt %q)",
			len(p), len(c), n, ctxLen, truncate(prompt))
	}
	tokens := make([]int32, 0, n)
	tokens = append(tokens, p...)
	tokens = append(tokens, c...)
	tokens = append(tokens, tok.EOS())
	return llama.Sequence{Tokens: tokens, Start: len(p)}, nil
}

// truncate shortens s for an error message.
func truncate(s string) string {
	const max = 60
	r := []rune(s)
	if len(r) <= max {
		return s
	}
	return string(r[:max]) + "…"
}

// checkData reports the first sequence that has nothing to learn from: the loss covers tokens
// Start..len-1 and needs at least one token of context, so 1 <= Start < len(Tokens).
func checkData(data []llama.Sequence) error {
	if len(data) == 0 {
		return fmt.Errorf("train: no training sequences")
	}
	for i, s := range data {
		if s.Start < 1 || s.Start >= len(s.Tokens) {
			return fmt.Errorf("train: sequence %d has %d tokens and Start %d; need 1 <= Start < number of tokens", i, len(s.Tokens), s.Start)
		}
	}
	return nil
}

// dataHash fingerprints the training data, so a checkpoint is not resumed on different data.
func dataHash(data []llama.Sequence) [32]byte {
	h := sha256.New()
	var buf [8]byte
	for _, s := range data {
		binary.LittleEndian.PutUint64(buf[:], uint64(len(s.Tokens)))
		h.Write(buf[:])
		binary.LittleEndian.PutUint64(buf[:], uint64(s.Start))
		h.Write(buf[:])
		b := make([]byte, 4*len(s.Tokens))
		for i, t := range s.Tokens {
			binary.LittleEndian.PutUint32(b[4*i:], uint32(t))
		}
		h.Write(b)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// order yields the data indices of a run: an endless stream of epochs, each a permutation of 0..n-1
// shuffled by a generator seeded with (seed, epoch). Position k of the stream depends only on seed,
// n and k, so a resumed run needs nothing but the step count to continue where it stopped.
type order struct {
	seed  uint64
	n     int
	epoch int   // epoch whose permutation is in perm, or -1
	perm  []int // permutation of the current epoch
}

func newOrder(seed uint64, n int) *order { return &order{seed: seed, n: n, epoch: -1} }

// at returns the data index at stream position k.
func (o *order) at(k int) int {
	e := k / o.n
	if e != o.epoch {
		o.perm = shuffled(o.seed, uint64(e), o.n)
		o.epoch = e
	}
	return o.perm[k%o.n]
}

// shuffled returns a Fisher–Yates permutation of 0..n-1 driven by PCG-DXSM, the generator of
// math/rand/v2, written out here together with the bounded draw so the order can never change with
// the Go release and invalidate checkpoints.
func shuffled(seed, epoch uint64, n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	g := pcg{hi: seed, lo: epoch}
	for i := n - 1; i > 0; i-- {
		j := int(g.below(uint64(i + 1)))
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// pcg is the 128-bit state PCG generator with the DXSM output function, as in math/rand/v2.PCG.
type pcg struct{ hi, lo uint64 }

func (p *pcg) next() uint64 {
	const (
		mulHi = 2549297995355413924
		mulLo = 4865540595714422341
		incHi = 6364136223846793005
		incLo = 1442695040888963407
	)
	// state = state*mul + inc, modulo 2^128.
	hi, lo := bits.Mul64(p.lo, mulLo)
	hi += p.hi*mulLo + p.lo*mulHi
	lo, c := bits.Add64(lo, incLo, 0)
	hi, _ = bits.Add64(hi, incHi, c)
	p.lo, p.hi = lo, hi
	// DXSM output with the cheap multiplier.
	const cheapMul = 0xda942042e4dd58b5
	hi ^= hi >> 32
	hi *= cheapMul
	hi ^= hi >> (3 * 64 / 4)
	hi *= lo | 1
	return hi
}

// below returns a uniform value in [0, n) by Lemire's multiply-and-reject method.
func (p *pcg) below(n uint64) uint64 {
	hi, lo := bits.Mul64(p.next(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(p.next(), n)
		}
	}
	return hi
}
