// Package splitmix is the project's seeded random generator: SplitMix64 with decorrelated streams. The
// synthetic world and the pretraining mix use it instead of math/rand so that a seed names the same data on
// every Go release — the embedded base model is pretrained on that data and must be reproducible from its
// recipe.
package splitmix

import "math/bits"

// RNG is a SplitMix64 generator. The zero value is usable; New seeds it.
type RNG struct{ s uint64 }

// New returns a generator for seed, decorrelated per stream so that independent parts of the data do not shift
// when another part changes size.
func New(seed, stream uint64) *RNG {
	r := &RNG{s: seed ^ (stream * 0xd1b54a32d192ed03)}
	r.Next() // Discard one output so that nearby seeds diverge at once.
	return r
}

// Next returns the next 64 random bits.
func (r *RNG) Next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Intn returns a uniform integer in [0, n) by Lemire's multiply-and-reject method, which has no modulo bias.
// n must be positive.
func (r *RNG) Intn(n int) int {
	bound := uint64(n)
	hi, lo := bits.Mul64(r.Next(), bound)
	if lo < bound {
		threshold := -bound % bound
		for lo < threshold {
			hi, lo = bits.Mul64(r.Next(), bound)
		}
	}
	return int(hi)
}

// Float64 returns a uniform number in [0, 1).
func (r *RNG) Float64() float64 { return float64(r.Next()>>11) / (1 << 53) }

// Perm returns a uniform permutation of [0, n) (Fisher–Yates).
func (r *RNG) Perm(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := r.Intn(i + 1)
		p[i], p[j] = p[j], p[i]
	}
	return p
}
