package llama

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// Sampler chooses each generated token. Temperature 0 is greedy decoding: the highest logit, the first one
// on ties, as llama.cpp's greedy sampler. Otherwise tokens are drawn from softmax(logits/Temperature),
// restricted to the smallest set of most likely tokens whose probability reaches TopP (when 0 < TopP < 1),
// with a random stream determined by Seed.
type Sampler struct {
	Temperature float32
	TopP        float32
	Seed        uint64
}

func (s Sampler) validate() error {
	if !(s.Temperature >= 0) || math.IsInf(float64(s.Temperature), 1) {
		return fmt.Errorf("temperature %v must be finite and non-negative", s.Temperature)
	}
	if !(s.TopP >= 0 && s.TopP <= 1) {
		return fmt.Errorf("top-p %v outside [0, 1]", s.TopP)
	}
	return nil
}

// Generate continues prompt by up to maxTokens tokens, decoding incrementally with a key/value cache. It stops
// before emitting any token in stop (which is not included in the result). The prompt plus maxTokens must fit
// the context length. a may be nil.
func (m *Model) Generate(ctx context.Context, prompt []int32, maxTokens int, s Sampler, stop []int32, a *Adapter) ([]int32, error) {
	switch {
	case len(prompt) == 0:
		return nil, errors.New("llama: generate: empty prompt")
	case maxTokens < 0:
		return nil, fmt.Errorf("llama: generate: max tokens %d is negative", maxTokens)
	case len(prompt)+maxTokens > m.Config.ContextLength:
		return nil, fmt.Errorf("llama: generate: prompt of %d tokens plus %d new exceeds context length %d",
			len(prompt), maxTokens, m.Config.ContextLength)
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("llama: generate: %w", err)
	}
	if err := m.checkTokens(prompt); err != nil {
		return nil, fmt.Errorf("llama: generate: %w", err)
	}
	if err := a.check(m); err != nil {
		return nil, fmt.Errorf("llama: generate: %w", err)
	}
	if maxTokens == 0 {
		return []int32{}, nil
	}
	cache := m.newKVCache(len(prompt) + maxTokens)
	rng := rand.New(rand.NewPCG(s.Seed, 0x73616d706c65)) // second word: "sample"
	logits, err := m.decode(ctx, prompt, cache, a)
	if err != nil {
		return nil, fmt.Errorf("llama: generate: %w", err)
	}
	out := make([]int32, 0, maxTokens)
	for {
		tok := s.pick(logits, rng)
		if slices.Contains(stop, tok) {
			return out, nil
		}
		out = append(out, tok)
		if len(out) == maxTokens {
			return out, nil
		}
		if logits, err = m.decode(ctx, []int32{tok}, cache, a); err != nil {
			return nil, fmt.Errorf("llama: generate: %w", err)
		}
	}
}

func (m *Model) newKVCache(positions int) *kvCache {
	c := &kvCache{k: make([][]float32, len(m.layers)), v: make([][]float32, len(m.layers))}
	for l := range m.layers {
		c.k[l] = make([]float32, positions*m.kvDim)
		c.v[l] = make([]float32, positions*m.kvDim)
	}
	return c
}

// decode runs tokens at the positions following those in the cache, appends their keys and values to it and
// returns the logits of the last token.
func (m *Model) decode(ctx context.Context, tokens []int32, cache *kvCache, a *Adapter) ([]float32, error) {
	n := len(tokens)
	if c := m.Config; m.Precision.FlashAttention && c.gemma() && c.SlidingWindow > 0 {
		cache.place(cache.n, n, c.SlidingWindow)
	}
	p := &pass{m: m, a: a, n: n, segs: []segment{{off: 0, n: n, pos0: cache.n}}, cache: cache,
		half: m.Precision, rope: m.ropeTables(cache.n, n)}
	if err := p.run(ctx, tokens); err != nil {
		return nil, err
	}
	cache.n += n
	c := m.Config
	logits := make([]float32, c.Vocab)
	p.output(logits, p.xnF[(n-1)*c.Dim:], 1)
	return logits, nil
}

// argmax returns the index of the largest value, the first one on ties.
func argmax(x []float32) int32 {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return int32(best)
}

// pick chooses the next token from logits.
func (s Sampler) pick(logits []float32, rng *rand.Rand) int32 {
	if s.Temperature == 0 {
		return argmax(logits)
	}
	mx := float64(logits[argmax(logits)])
	probs := make([]float64, len(logits))
	var sum float64
	for i, z := range logits {
		probs[i] = math.Exp((float64(z) - mx) / float64(s.Temperature))
		sum += probs[i]
	}
	idx := make([]int, len(probs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return probs[idx[a]] > probs[idx[b]] })
	keep := len(idx)
	if s.TopP > 0 && s.TopP < 1 {
		var cum float64
		for i, j := range idx {
			cum += probs[j] / sum
			if cum >= float64(s.TopP) {
				keep = i + 1
				break
			}
		}
	}
	var total float64
	for _, j := range idx[:keep] {
		total += probs[j]
	}
	r := rng.Float64() * total
	for _, j := range idx[:keep] {
		r -= probs[j]
		if r < 0 {
			return int32(j)
		}
	}
	return int32(idx[keep-1])
}
