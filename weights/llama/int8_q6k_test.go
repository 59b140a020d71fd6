package llama

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fastslow/fastslow/weights/gguf"
)

// int8Acts returns activation rows of nb Q8_K blocks of the named kind.
func int8Acts(rng *rand.Rand, kind string, rows, nb int) [][]q8KBlock {
	acts := make([][]q8KBlock, rows)
	for r := range acts {
		switch kind {
		case "quantized":
			x := make([]float32, 256*nb)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			acts[r] = quantizeQ8_K(x)
			continue
		}
		acts[r] = make([]q8KBlock, nb)
		for b := range acts[r] {
			blk := &acts[r][b]
			blk.d = float32(rng.NormFloat64())
			for i := range blk.qs {
				switch kind {
				case "random":
					blk.qs[i] = int8(rng.Uint32())
				case "min":
					blk.qs[i] = -128
				case "max":
					blk.qs[i] = 127
				case "extreme scales":
					blk.qs[i] = int8(rng.Uint32())
					blk.d = []float32{math.MaxFloat32, 1e-45, -3e38, float32(math.Inf(1)), 0}[rng.IntN(5)]
				}
			}
			for j := range blk.bsums {
				s := int32(0)
				for _, q := range blk.qs[16*j : 16*j+16] {
					s += int32(q)
				}
				blk.bsums[j] = s
			}
		}
	}
	return acts
}

// q6kRows returns a Q6_K weight row of nb blocks of the named kind.
func q6kRow(t *testing.T, rng *rand.Rand, kind string, nb int) []byte {
	t.Helper()
	row := make([]byte, 210*nb)
	switch kind {
	case "quantized":
		w := make([]float32, 256*nb)
		for i := range w {
			w[i] = float32(rng.NormFloat64() * 0.05)
		}
		enc, err := gguf.Quantize(gguf.TypeQ6_K, w)
		if err != nil {
			t.Fatal(err)
		}
		return enc
	case "random bytes": // every scale and value, NaN and infinite d included
		for i := range row {
			row[i] = byte(rng.Uint32())
		}
		return row
	}
	for b := range nb {
		blk := row[210*b : 210*b+210]
		var q, sc byte
		d := uint16(0x3c00) // 1.0
		switch kind {
		case "all max":
			q, sc, d = 0xff, 127, 0x7bff // 63 everywhere, largest finite fp16
		case "all min":
			q, sc, d = 0x00, 0x80, 0xfbff // -32 everywhere, scale -128, most negative fp16
		case "all equal":
			q, sc, d = 0x55, 3, 0x0001 // smallest subnormal fp16
		}
		for i := range 192 {
			blk[i] = q
		}
		for i := 192; i < 208; i++ {
			blk[i] = sc
		}
		binary.LittleEndian.PutUint16(blk[208:], d)
	}
	return row
}

// packInt8K lays out the Q8_K blocks src (any int8 values) as int8KBlocks in dst.
func packInt8K(dst []int8KBlock, src []q8KBlock) {
	for b := range src {
		s, d := &src[b], &dst[b]
		for g := range 16 {
			for i := range 8 {
				d.qs[16*g+2*i], d.qs[16*g+2*i+1] = s.qs[16*g+i], s.qs[16*g+i+8]
			}
			d.bsums[g] = int16(s.bsums[g])
		}
		d.d = s.d
	}
}

// TestInt8Q6K checks the int8 Q6_K kernel against quant.go's port of ggml's ggml_vec_dot_q6_K_q8_K bit for
// bit, on weight blocks of random bytes (NaN and infinite d included), of quantized weights and of extreme
// quants and scales, with activations of any int8 values (-128 included, which quantizeQ8_K never gives) and
// extreme scales, for 1 to 15 activation rows (the kernel's runs of four and its tail) and a y stride.
func TestInt8Q6K(t *testing.T) {
	kernel := int8KKernels[gguf.TypeQ6_K]
	if kernel == nil {
		t.Skip("no Q6_K int8 kernel on this CPU")
	}
	rng := rand.New(rand.NewPCG(15, 6))
	checkInt8KKernel(t, rng, kernel, gguf.TypeQ6_K, 210, q6kRow)
}

// checkInt8KKernel checks kernel, for weights of type typ (blocks of blockBytes), against quant.go's port
// (quantMatrix.dotQ8_K) bit for bit: weight rows from row of each kind, activations of any int8 values and
// extreme scales, 1, 2 and 8 blocks, 1 to 15 activation rows and a y stride of 3.
func checkInt8KKernel(t *testing.T, rng *rand.Rand, kernel int8KKernel, typ gguf.Type, blockBytes int,
	row func(t *testing.T, rng *rand.Rand, kind string, nb int) []byte) {
	t.Helper()
	q := &quantMatrix{typ: typ, blockBytes: blockBytes}
	for _, wkind := range []string{"quantized", "random bytes", "all max", "all min", "all equal"} {
		for _, akind := range []string{"quantized", "random", "min", "max", "extreme scales"} {
			for _, nb := range []int{1, 2, 8} {
				rows := 1 + rng.IntN(15)
				w := row(t, rng, wkind, nb)
				acts := int8Acts(rng, akind, rows, nb)
				packed := make([]int8KBlock, rows*nb)
				for r := range acts {
					packInt8K(packed[r*nb:(r+1)*nb], acts[r])
				}
				const ystride = 3
				got := make([]float32, rows*ystride)
				kernel(&got[0], ystride, &w[0], &packed[0], nb, rows)
				for r := range acts {
					want := q.dotQ8_K(w, acts[r])
					if g := got[r*ystride]; !sameFloat(g, want) {
						t.Errorf("%s weights, %s activations, %d blocks, row %d of %d: %v (%#x), port %v (%#x)",
							wkind, akind, nb, r, rows, g, math.Float32bits(g), want, math.Float32bits(want))
					}
				}
			}
		}
	}
}

// BenchmarkInt8Q6K measures the Q6_K kernel on one thread: 256 weight rows of 2048 values (llama3.2-1b's
// width; 210 KiB of weights, in L2) times runs of 1, 4 and 32 activation rows; GOPS counts a multiply and an
// add per weight value and activation row.
func BenchmarkInt8Q6K(b *testing.B) {
	kernel := int8KKernels[gguf.TypeQ6_K]
	if kernel == nil {
		b.Skip("no Q6_K int8 kernel on this CPU")
	}
	const in, outRows, nb = 2048, 256, 2048 / 256
	rng := rand.New(rand.NewPCG(1, 2))
	w := make([]byte, outRows*nb*210)
	for i := range w {
		w[i] = byte(rng.Uint32())
	}
	for _, rows := range []int{1, 4, 32} {
		x := make([]float32, rows*in)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		act := make([]int8KBlock, rows*nb)
		packQ8K(act, x)
		y := make([]float32, rows*outRows)
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			for b.Loop() {
				for o := range outRows {
					kernel(&y[o], outRows, &w[o*nb*210], &act[0], nb, rows)
				}
			}
			b.ReportMetric(2*float64(b.N)*in*outRows*float64(rows)/float64(b.Elapsed().Nanoseconds()), "GOPS")
		})
	}
}
