package llama

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fastslow/fastslow/weights/gguf"
)

// q80Row returns a Q8_0 weight row of nb blocks of the named kind.
func q80Row(t *testing.T, rng *rand.Rand, kind string, nb int) []byte {
	t.Helper()
	row := make([]byte, 34*nb)
	switch kind {
	case "quantized":
		w := make([]float32, 32*nb)
		for i := range w {
			w[i] = float32(rng.NormFloat64() * 0.05)
		}
		enc, err := gguf.Quantize(gguf.TypeQ8_0, w)
		if err != nil {
			t.Fatal(err)
		}
		return enc
	case "random bytes": // every value (-128 included) and scale, NaN and infinite ones included
		for i := range row {
			row[i] = byte(rng.Uint32())
		}
		return row
	}
	for b := range nb {
		blk := row[34*b : 34*b+34]
		q, d := byte(0x55), uint16(0x0001) // all equal, the smallest subnormal fp16
		switch kind {
		case "all max":
			q, d = 127, 0x7bff // the largest finite fp16
		case "all min":
			q, d = 0x80, 0xfbff // -128, the most negative finite fp16
		case "infinite scales":
			q, d = byte(rng.Uint32()), []uint16{0x7c00, 0xfc00, 0x7e00, 0x0000}[rng.IntN(4)]
		}
		binary.LittleEndian.PutUint16(blk, d)
		for i := 2; i < 34; i++ {
			blk[i] = q
		}
	}
	return row
}

// q80Acts returns activation rows of nb Q8_0 blocks of the named kind, values in -127…127 (what
// quantize_row_q8_0 gives and the kernel requires).
func q80Acts(rng *rand.Rand, kind string, rows, nb int) [][]q8Block {
	acts := make([][]q8Block, rows)
	for r := range acts {
		if kind == "quantized" {
			x := make([]float32, 32*nb)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			acts[r] = quantizeQ8_0(x, false)
			continue
		}
		acts[r] = make([]q8Block, nb)
		for b := range acts[r] {
			blk := &acts[r][b]
			blk.d = float32(rng.NormFloat64())
			for i := range blk.qs {
				switch kind {
				case "random":
					blk.qs[i] = int8(rng.IntN(255) - 127)
				case "min":
					blk.qs[i] = -127
				case "max":
					blk.qs[i] = 127
				case "extreme scales":
					blk.qs[i] = int8(rng.IntN(255) - 127)
					blk.d = []float32{65504, 6e-8, -65504, float32(math.Inf(-1)), 0}[rng.IntN(5)]
				}
			}
		}
	}
	return acts
}

// TestInt8Q80 checks the int8 Q8_0 kernel against quant.go's port of ggml's ggml_vec_dot_q8_0_q8_0 bit for bit,
// on weight blocks of random bytes, quantized weights and extreme values and scales (infinite and NaN ones
// included), with activations in -127…127 and extreme scales, for 1 to 15 activation rows (the kernel's runs of
// eight and four and its tail), 1 to 64 blocks and a y stride.
func TestInt8Q80(t *testing.T) {
	kernel := int8Kernels[gguf.TypeQ8_0]
	if kernel == nil {
		t.Skip("no Q8_0 int8 kernel on this CPU")
	}
	rng := rand.New(rand.NewPCG(15, 7))
	q := &quantMatrix{typ: gguf.TypeQ8_0, blockBytes: 34}
	for _, wkind := range []string{"quantized", "random bytes", "all max", "all min", "all equal", "infinite scales"} {
		for _, akind := range []string{"quantized", "random", "min", "max", "extreme scales"} {
			for _, nb := range []int{1, 2, 64} {
				rows := 1 + rng.IntN(15)
				w := q80Row(t, rng, wkind, nb)
				acts := q80Acts(rng, akind, rows, nb)
				packed := make([]int8Block, rows*nb)
				for r := range acts {
					for b, blk := range acts[r] {
						packed[r*nb+b] = int8Block{qs: blk.qs, d: blk.d}
					}
				}
				const ystride = 3
				got := make([]float32, rows*ystride)
				kernel(&got[0], ystride, &w[0], &packed[0], nb, rows)
				for r := range acts {
					want := q.dotQ8_0(w, acts[r])
					if g := got[r*ystride]; !sameFloat(g, want) {
						t.Errorf("%s weights, %s activations, %d blocks, row %d of %d: %v (%#x), port %v (%#x)",
							wkind, akind, nb, r, rows, g, math.Float32bits(g), want, math.Float32bits(want))
					}
				}
			}
		}
	}
}

// BenchmarkInt8Q80 measures the Q8_0 kernel on one thread: 256 weight rows of 2048 values (llama3.2-1b's width;
// 272 KiB of weights) times runs of 1, 4, 8 and 32 activation rows; GOPS counts a multiply and an add per weight
// value and activation row.
func BenchmarkInt8Q80(b *testing.B) {
	kernel := int8Kernels[gguf.TypeQ8_0]
	if kernel == nil {
		b.Skip("no Q8_0 int8 kernel on this CPU")
	}
	const in, outRows, nb = 2048, 256, 2048 / 32
	rng := rand.New(rand.NewPCG(1, 2))
	w := make([]byte, outRows*nb*34)
	for i := range w {
		w[i] = byte(rng.Uint32())
	}
	for _, rows := range []int{1, 4, 8, 32} {
		x := make([]float32, rows*in)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		act := make([]int8Block, rows*nb)
		packQ8_0(act, x)
		y := make([]float32, rows*outRows)
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			for b.Loop() {
				for o := range outRows {
					kernel(&y[o], outRows, &w[o*nb*34], &act[0], nb, rows)
				}
			}
			b.ReportMetric(2*float64(b.N)*in*outRows*float64(rows)/float64(b.Elapsed().Nanoseconds()), "GOPS")
		})
	}
}
