package llama

import (
	"math"
	"sync"
	"unsafe"

	"github.com/fastslow/fastslow/weights/gguf"
)

// The int8 product path: y = x·Wᵀ for a weight matrix kept in its GGUF form, computed as ggml's CPU backend
// does it (every input row quantized once to Q8_K or Q8_0 blocks, integer block dot products), by SIMD
// kernels whose results equal the portable ports of quant.go (dotQ8_K, dotQ8_0) bit for bit.
//
// Activations are quantized into the packed layouts below, which the assembly kernels read directly. The
// layouts are fixed (asserted by TestInt8Layout); kernels rely on the offsets.

// int8KBlock is a Q8_K activation block (block_q8_K) as the int8 kernels read it:
//
//	offset   0: qs    [256]int8  the quantized values, permuted within each group of 16 (see below)
//	offset 256: bsums [16]int16  bsums[g] = the sum of the 16 values of group g (values 16g … 16g+15)
//	offset 288: d     float32    the scale: value k is d·(its qs)
//	size 292, no padding; a row of n_in values is n_in/256 consecutive blocks.
//
// Within each group of 16 values (16 bytes, 16g … 16g+15), stored byte 2i+e holds value i+8e (i < 8, e < 2):
// the order 0,8,1,9,2,10,…,7,15. ggml's portable K-quant dot products sum value k's integer product into lane
// k mod 8 and scale each lane in float32, so a kernel that is to equal them bit for bit must keep the lanes
// apart: with this order, vpmaddubsw's adjacent pairs (stored bytes 2i, 2i+1) are values i and i+8 — one
// lane. A kernel applies the same in-lane byte shuffle (vpshufb with the mask 0,8,1,9,…,7,15, int8shuf in the
// assembly) to the weight bytes it loads, 32 at a time (for Q4_K/Q6_K the low and high nibbles of a byte then
// both follow the order).
type int8KBlock struct {
	qs    [256]int8
	bsums [16]int16
	d     float32
}

// int8Block is a Q8_0 activation block (block_q8_0) as the int8 kernels read it:
//
//	offset  0: qs [32]int8  the quantized values in their natural order
//	offset 32: d  float32   the fp16 scale, widened: value j is d·qs[j]
//	size 36; a row of n_in values is n_in/32 consecutive blocks.
type int8Block struct {
	qs [32]int8
	d  float32
}

// int8KKernel computes, for r < nx, y[r·ystride] = the dot product of one weight row w (nb blocks of the
// kernel's weight type, raw GGUF bytes) with activation row r, the nb blocks x[r·nb … r·nb+nb−1] — exactly
// the float32 quantMatrix.dotQ8_K returns for them. ystride counts float32s.
type int8KKernel func(y *float32, ystride int, w *byte, x *int8KBlock, nb, nx int)

// int8Kernel is int8KKernel for Q8_0 activations: y[r·ystride] equals quantMatrix.dotQ8_0.
type int8Kernel func(y *float32, ystride int, w *byte, x *int8Block, nb, nx int)

// int8KKernels and int8Kernels hold the kernels this CPU runs, by weight type (filled by init functions of
// the architecture's files). A type without a kernel takes quantMatrix.mul's portable path.
var (
	int8KKernels = map[gguf.Type]int8KKernel{}
	int8Kernels  = map[gguf.Type]int8Kernel{}
)

// Int8Types returns the weight types whose products have an int8 kernel on this CPU (Precision.Int8).
func Int8Types() []gguf.Type {
	var ts []gguf.Type
	for _, t := range QuantizedTypes() {
		if int8KKernels[t] != nil || int8Kernels[t] != nil {
			ts = append(ts, t)
		}
	}
	return ts
}

// int8Matrix returns w's stored form if products with it take an int8 kernel under p (Precision.Int8).
func (p *pass) int8Matrix(w *Param) *quantMatrix {
	if !p.half.Int8 || p.half.GGMLPortable || p.half.Quantized {
		return nil
	}
	q := p.m.quant[w]
	if q == nil || q.raw == nil {
		return nil
	}
	if (q.act == actQ8_K && int8KKernels[q.typ] != nil) || (q.act == actQ8_0 && int8Kernels[q.typ] != nil) {
		return q
	}
	return nil
}

// packQ8K quantizes x (len(dst)·256 values) into dst as quantizeQ8_K does, in int8KBlock's layout.
func packQ8K(dst []int8KBlock, x []float32) {
	for b := range dst {
		xb := x[b*256 : b*256+256]
		blk := &dst[b]
		var mx, amax float32
		for _, v := range xb {
			if ax := float32(math.Abs(float64(v))); ax > amax {
				amax, mx = ax, v
			}
		}
		if amax == 0 {
			*blk = int8KBlock{}
			continue
		}
		iscale := -127 / mx
		for g := range 16 {
			s := int16(0)
			xg := xb[16*g : 16*g+16]
			qg := blk.qs[16*g : 16*g+16]
			for j, v := range xg {
				q := int8(min(127, nearestInt(float32(iscale*v))))
				qg[2*(j&7)+j>>3] = q
				s += int16(q)
			}
			blk.bsums[g] = s
		}
		blk.d = 1 / iscale
	}
}

// packQ8_0 quantizes x (len(dst)·32 values) into dst as quantizeQ8_0 (without sums) does.
func packQ8_0(dst []int8Block, x []float32) {
	for b := range dst {
		xb := x[b*32 : b*32+32]
		var amax float32
		for _, v := range xb {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		dst[b].d = gguf.FP16ToFP32(gguf.FP32ToFP16(d))
		for j, v := range xb {
			dst[b].qs[j] = int8(math.Round(float64(float32(v * id))))
		}
	}
}

// unpackQ8K returns the block_q8_K of the ports (quant.go) that b holds.
func unpackQ8K(b *int8KBlock) q8KBlock {
	out := q8KBlock{d: b.d}
	for k := range 256 {
		g, j := k/16, k%16
		out.qs[k] = b.qs[16*g+2*(j&7)+j>>3]
	}
	for g, s := range b.bsums {
		out.bsums[g] = int32(s)
	}
	return out
}

// int8KBuffers and int8Buffers recycle the activation buffers of the int8 products.
var (
	int8KBuffers sync.Pool // *[]int8KBlock
	int8Buffers  sync.Pool // *[]int8Block
)

func getInt8K(n int) *[]int8KBlock {
	if p, ok := int8KBuffers.Get().(*[]int8KBlock); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	s := make([]int8KBlock, n)
	return &s
}

func getInt8(n int) *[]int8Block {
	if p, ok := int8Buffers.Get().(*[]int8Block); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	s := make([]int8Block, n)
	return &s
}

// int8ActBytes bounds the activation rows one pass of a worker multiplies by a run of weight rows, so that
// they stay in the L2 cache while the weight rows stream past (a variable so tests can force several runs).
var int8ActBytes = 192 << 10

// mulInt8 computes y = x·Wᵀ for n rows of x through this CPU's int8 kernel for q's type, with results equal
// to mul's portable path bit for bit. It reports false, computing nothing, when there is no such kernel.
func (q *quantMatrix) mulInt8(y, x []float32, n int) bool {
	if n == 0 {
		return true
	}
	switch q.act {
	case actQ8_K:
		k := int8KKernels[q.typ]
		if k == nil {
			return false
		}
		nb := q.in / 256
		buf := getInt8K(n * nb)
		act := *buf
		parallelChunks(n, 1, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				packQ8K(act[r*nb:(r+1)*nb], x[r*q.in:(r+1)*q.in])
			}
		})
		rows := max(1, int8ActBytes/(nb*int(unsafe.Sizeof(int8KBlock{}))))
		q.int8Rows(n, rows, func(o, r0, nr int) {
			k(&y[r0*q.out+o], q.out, &q.raw[o*q.rowBytes], &act[r0*nb], nb, nr)
		})
		int8KBuffers.Put(buf)
		return true
	case actQ8_0:
		k := int8Kernels[q.typ]
		if k == nil {
			return false
		}
		nb := q.in / 32
		buf := getInt8(n * nb)
		act := *buf
		parallelChunks(n, 1, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				packQ8_0(act[r*nb:(r+1)*nb], x[r*q.in:(r+1)*q.in])
			}
		})
		rows := max(1, int8ActBytes/(nb*int(unsafe.Sizeof(int8Block{}))))
		q.int8Rows(n, rows, func(o, r0, nr int) {
			k(&y[r0*q.out+o], q.out, &q.raw[o*q.rowBytes], &act[r0*nb], nb, nr)
		})
		int8Buffers.Put(buf)
		return true
	}
	return false
}

// int8Rows splits the product's weight rows among the workers and calls f(o, r0, nr) for every weight row o
// and run of at most rows activation rows r0 … r0+nr−1: per worker, a run of activation rows is multiplied
// by all of the worker's weight rows before the next run.
func (q *quantMatrix) int8Rows(n, rows int, f func(o, r0, nr int)) {
	parallelChunks(q.out, 16, func(lo, hi int) {
		for r0 := 0; r0 < n; r0 += rows {
			nr := min(rows, n-r0)
			for o := lo; o < hi; o++ {
				f(o, r0, nr)
			}
		}
	})
}
