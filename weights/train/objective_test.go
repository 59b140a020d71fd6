package train

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/fastslow/fastslow/weights/llama"
)

// bigram is a test objective with analytic gradients: a softmax over the next token whose logits are
// a row of W selected by the previous token, plus a bias. It splits a batch over several goroutines
// and sums their partial gradients in a fixed order, as a reproducible parallel objective must.
type bigram struct {
	vocab   int
	w, b    *llama.Param
	workers int
	calls   int
	// hook, if set, runs at the start of every call and may replace its result.
	hook func(ctx context.Context, batch []llama.Sequence) (loss float64, n int, handled bool, err error)
}

func newBigram(vocab int, seed uint64) *bigram {
	m := &bigram{
		vocab:   vocab,
		w:       &llama.Param{Name: "w", Shape: []int{vocab, vocab}, Data: make([]float32, vocab*vocab), Grad: make([]float32, vocab*vocab)},
		b:       &llama.Param{Name: "b", Shape: []int{vocab}, Data: make([]float32, vocab), Grad: make([]float32, vocab)},
		workers: 3,
	}
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range m.w.Data {
		m.w.Data[i] = float32(r.NormFloat64() * 0.1)
	}
	return m
}

func (m *bigram) Params() []*llama.Param { return []*llama.Param{m.w, m.b} }

func (m *bigram) LossAndGrad(ctx context.Context, batch []llama.Sequence) (float64, int, error) {
	m.calls++
	if m.hook != nil {
		if l, n, handled, err := m.hook(ctx, batch); handled {
			return l, n, err
		}
	}
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	v := m.vocab
	type part struct {
		loss   float64
		n      int
		gw, gb []float64
	}
	parts := make([]part, m.workers)
	var wg sync.WaitGroup
	for k := range parts {
		wg.Go(func() {
			p := &parts[k]
			p.gw, p.gb = make([]float64, v*v), make([]float64, v)
			z := make([]float64, v)
			for i := k; i < len(batch); i += len(parts) {
				s := batch[i]
				for j := s.Start; j < len(s.Tokens); j++ {
					prev, tgt := int(s.Tokens[j-1]), int(s.Tokens[j])
					mx := math.Inf(-1)
					for c := range z {
						z[c] = float64(m.w.Data[prev*v+c]) + float64(m.b.Data[c])
						mx = max(mx, z[c])
					}
					var sum float64
					for c := range z {
						z[c] = math.Exp(z[c] - mx)
						sum += z[c]
					}
					p.loss -= math.Log(z[tgt] / sum)
					p.n++
					for c := range z {
						d := z[c] / sum
						if c == tgt {
							d--
						}
						p.gw[prev*v+c] += d
						p.gb[c] += d
					}
				}
			}
		})
	}
	wg.Wait()
	var loss float64
	var n int
	for _, p := range parts {
		loss += p.loss
		n += p.n
		for i, g := range p.gw {
			m.w.Grad[i] += float32(g)
		}
		for i, g := range p.gb {
			m.b.Grad[i] += float32(g)
		}
	}
	return loss, n, nil
}

// snapshot copies the parameter values of obj.
func snapshot(obj Objective) [][]float32 {
	var out [][]float32
	for _, p := range obj.Params() {
		out = append(out, append([]float32(nil), p.Data...))
	}
	return out
}

// sameBits reports whether two snapshots are identical bit for bit.
func sameBits(a, b [][]float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if math.Float32bits(a[i][j]) != math.Float32bits(b[i][j]) {
				return false
			}
		}
	}
	return true
}

// markovData returns n sequences from a noisy deterministic chain over vocab tokens, which a bigram
// model can learn well.
func markovData(n, vocab int, seed uint64) []llama.Sequence {
	r := rand.New(rand.NewPCG(seed, 2))
	data := make([]llama.Sequence, n)
	for i := range data {
		l := 4 + r.IntN(12)
		toks := make([]int32, l)
		toks[0] = int32(r.IntN(vocab))
		for j := 1; j < l; j++ {
			next := (3*int(toks[j-1]) + 1) % vocab
			if r.IntN(10) == 0 {
				next = r.IntN(vocab)
			}
			toks[j] = int32(next)
		}
		data[i] = llama.Sequence{Tokens: toks, Start: 1 + r.IntN(2)}
	}
	return data
}
