package pretrain

import "github.com/fastslow/fastslow/internal/splitmix"

// rng is the mix's generator (package internal/splitmix): the mix must be a pure function of the recipe on
// every Go release, so it does not use math/rand.
type rng = splitmix.RNG

// Streams decorrelate the generators of independent choices.
const (
	streamContext uint64 = iota + 1
)

func newRNG(seed, stream uint64) *rng { return splitmix.New(seed, stream) }
