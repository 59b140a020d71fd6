package world

import "github.com/fastslow/fastslow/internal/splitmix"

// rng is the world's own generator (package internal/splitmix) rather than math/rand, so that a seed names the
// same world on every Go release: the embedded base model is pretrained on this world and must be
// reproducible from its recipe.
type rng = splitmix.RNG

// newRNG returns a generator for seed and one stream of the world's choices.
func newRNG(seed int64, stream uint64) *rng { return splitmix.New(uint64(seed), stream) }

// pick returns a uniformly chosen element of list.
func pick[T any](r *rng, list []T) T { return list[r.Intn(len(list))] }

// Stream identifiers for newRNG.
const (
	streamPeople uint64 = iota + 1
	streamSplit
	streamArithmetic
	streamInject
	streamCorpus
)
