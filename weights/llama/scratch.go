package llama

import (
	"math/bits"
	"sync"
)

// Scratch buffers (packed panels, transposes, per-head attention blocks) are recycled through one pool per
// power-of-two size class, so a request never finds only buffers too small for it, and the boxes the pools
// hold are recycled too: a step of training allocates no scratch memory once the pools are warm.
var (
	scratchPools [48]sync.Pool // class c holds *[]float32 of capacity 1<<c
	scratchBoxes sync.Pool     // empty *[]float32 boxes
)

// getScratch returns a slice of n floats with unspecified contents.
func getScratch(n int) []float32 {
	if n == 0 {
		return nil
	}
	c := bits.Len(uint(n - 1))
	if p, ok := scratchPools[c].Get().(*[]float32); ok {
		s := (*p)[:n]
		*p = nil
		scratchBoxes.Put(p)
		return s
	}
	return make([]float32, n, 1<<c)
}

// putScratch hands s back for reuse; s must not be used afterwards.
func putScratch(s []float32) {
	c := bits.Len(uint(cap(s) - 1))
	if cap(s) == 0 || cap(s) != 1<<c {
		return // not from getScratch
	}
	p, ok := scratchBoxes.Get().(*[]float32)
	if !ok {
		p = new([]float32)
	}
	*p = s[:0]
	scratchPools[c].Put(p)
}
