package world

import "math/bits"

// rng is a SplitMix64 generator. The world carries its own generator rather
// than math/rand so that a seed names the same world on every Go release:
// the embedded base model is pretrained on this world and must be
// reproducible from its recipe.
type rng struct{ s uint64 }

// newRNG returns a generator for seed, decorrelated per stream so that
// independent parts of the world (people, splits, corpus order) do not shift
// when another part changes size.
func newRNG(seed int64, stream uint64) *rng {
	r := &rng{s: uint64(seed) ^ (stream * 0xd1b54a32d192ed03)}
	r.next() // Discard one output so that nearby seeds diverge at once.
	return r
}

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a uniform integer in [0, n) using Lemire's multiply-and-reject
// method, which has no modulo bias. n must be positive.
func (r *rng) intn(n int) int {
	bound := uint64(n)
	hi, lo := bits.Mul64(r.next(), bound)
	if lo < bound {
		threshold := -bound % bound
		for lo < threshold {
			hi, lo = bits.Mul64(r.next(), bound)
		}
	}
	return int(hi)
}

// pick returns a uniformly chosen element of list.
func pick[T any](r *rng, list []T) T { return list[r.intn(len(list))] }

// perm returns a uniform permutation of [0, n) (Fisher–Yates).
func (r *rng) perm(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := r.intn(i + 1)
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// Stream identifiers for newRNG.
const (
	streamPeople uint64 = iota + 1
	streamSplit
	streamArithmetic
	streamInject
	streamCorpus
)
