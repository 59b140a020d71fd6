//go:build amd64 && !purego

package llama

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/fastslow/fastslow/weights/gguf"
)

// q4kRow returns a Q4_K weight row of nb blocks of the named kind.
func q4kRow(t *testing.T, rng *rand.Rand, kind string, nb int) []byte {
	t.Helper()
	row := make([]byte, 144*nb)
	switch kind {
	case "quantized":
		w := make([]float32, 256*nb)
		for i := range w {
			w[i] = float32(rng.NormFloat64() * 0.05)
		}
		enc, err := gguf.Quantize(gguf.TypeQ4_K, w)
		if err != nil {
			t.Fatal(err)
		}
		return enc
	case "random bytes": // every scale, min and value; NaN and infinite d and dmin included
		for i := range row {
			row[i] = byte(rng.Uint32())
		}
		return row
	}
	for b := range nb {
		blk := row[144*b : 144*b+144]
		q, sc := byte(0x5a), byte(0x9c) // all equal
		d, dmin := uint16(0x0001), uint16(0x8001)
		switch kind {
		case "all max":
			q, sc, d, dmin = 0xff, 0xff, 0x7bff, 0x7bff // 15 everywhere, scales and mins 63, largest fp16
		case "all min":
			q, sc, d, dmin = 0x00, 0x00, 0xfbff, 0xfbff
		}
		binary.LittleEndian.PutUint16(blk[0:], d)
		binary.LittleEndian.PutUint16(blk[2:], dmin)
		for i := 4; i < 16; i++ {
			blk[i] = sc
		}
		for i := 16; i < 144; i++ {
			blk[i] = q
		}
	}
	return row
}

// TestInt8Q4KU checks int8DotQ4K's unpacking variant against quant.go's port of ggml_vec_dot_q4_K_q8_K bit for
// bit, as TestInt8Q6K does for Q6_K: weight blocks of random bytes (NaN and infinite scales included), quantized
// weights and extreme ones; activations of any int8 values and extreme scales; 1 to 15 activation rows.
func TestInt8Q4KU(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2")
	}
	rng := rand.New(rand.NewPCG(15, 11))
	checkInt8KKernel(t, rng, int8DotQ4KU, gguf.TypeQ4_K, 144, q4kRow)
}
