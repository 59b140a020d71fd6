package llama

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fastslow/fastslow/weights/gguf"
)

// encodedMatrix quantizes random weights of the given shape to typ and returns the encoded matrix and its
// values as gguf.Dequantize gives them (the weights of a decode-first model).
func encodedMatrix(t *testing.T, rng *rand.Rand, typ gguf.Type, in, out int) (*quantMatrix, []float32) {
	t.Helper()
	q, dec := randomQuant(t, rng, typ, in, out)
	q.enc = true
	return q, dec
}

// sameBits reports the first element where got and want differ in any bit.
func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: element %d = %v, decode-first path gives %v", what, i, got[i], want[i])
		}
	}
}

// TestEncodedProducts checks, for every encoded weight type and for shapes that take each of sgemm's routes
// (matrix-vector rows, the dot-product route of a few columns, the transposed route of many columns, the
// packed job; one and several blocks of k, block-aligned or not), that the four products of a projection run
// on the encoded matrix equal the float32 products on its decoded values bit for bit: the forward x·Wᵀ, the
// forward fused with a LoRA branch, the input gradient dY·W, and that fused with the LoRA branch's.
func TestEncodedProducts(t *testing.T) {
	defer func(k *microKernel, p, qb int) { kernel, parallelMin, qBlockFloats = k, p, qb }(kernel, parallelMin, qBlockFloats)
	rng := rand.New(rand.NewPCG(15, 1))
	shapes := []struct{ n, in, out int }{
		{1, 256, 40},   // decoding one token: gemvQ
		{3, 512, 70},   // gemvQ, a partial chunk of columns
		{5, 256, 8},    // few columns: the dot-product route (and the transposed one backwards)
		{40, 256, 600}, // many columns: the transposed route forwards
		{64, 768, 300}, // several blocks of k, packed job
		{200, 256, 96}, // rows past one work item
		{36, 512, 1400},
		{260, 1280, 300}, // input gradient, many rows against 4x as many columns, blocks of k: the plain route (fewRows)
	}
	const r = 4 // LoRA rank
	for _, kn := range kernels() {
		kernel = kn
		// Parallel paths forced on; the products' decoded blocks as large as by default, and of 256 columns
		// (several blocks, the last partial, for the matrices over 256 rows or columns).
		for _, qb := range []int{qBlockFloats, 1} {
			pm := 1
			parallelMin, qBlockFloats = pm, qb
			for _, typ := range EncodedTypes() {
				for _, s := range shapes {
					name := fmt.Sprintf("%s/%s/qb%d/%dx%dx%d", kn.name, typ, qb, s.n, s.in, s.out)
					t.Run(name, func(t *testing.T) { checkEncodedProducts(t, rng, typ, s.n, s.in, s.out, r) })
				}
				if typ.BlockSize() == 32 {
					// k blocks that split quantization blocks: 288 = 2 blocks of 144 steps.
					t.Run(fmt.Sprintf("%s/%s/par%d/unaligned", kn.name, typ, pm), func(t *testing.T) {
						checkEncodedProducts(t, rng, typ, 48, 288, 290, r)
					})
				}
			}
		}
	}
}

func checkEncodedProducts(t *testing.T, rng *rand.Rand, typ gguf.Type, n, in, out, r int) {
	q, w := encodedMatrix(t, rng, typ, in, out)
	x, dy := randSlice(rng, n*in), randSlice(rng, n*out)
	xa, b := randSlice(rng, n*r), randSlice(rng, out*r)
	dxa, a := randSlice(rng, n*r), randSlice(rng, r*in)
	dx0 := randSlice(rng, n*in)

	want, got := make([]float32, n*out), make([]float32, n*out)
	matMul(want, x, w, n, in, out)
	q.matMul(got, x, n)
	sameBits(t, "x·Wᵀ", got, want)

	matMulLoRA(want, x, w, xa, b, n, in, out, r, 0.75)
	sgemm2Q(n, out, in, 1, x, in, false, q, true, r, 0.75, xa, r, false, b, r, true, false, got, out)
	sameBits(t, "x·Wᵀ + s·xa·Bᵀ", got, want)

	wantX, gotX := append([]float32(nil), dx0...), append([]float32(nil), dx0...)
	matMulBackX(wantX, dy, w, n, in, out)
	sgemmQ(n, in, out, 1, dy, out, false, q, false, true, gotX, in)
	sameBits(t, "dx + dY·W", gotX, wantX)

	copy(wantX, dx0)
	copy(gotX, dx0)
	matMulBackXLoRA(wantX, dy, w, dxa, a, n, in, out, r)
	sgemm2Q(n, in, out, 1, dy, out, false, q, false, r, 1, dxa, r, false, a, in, false, true, gotX, in)
	sameBits(t, "dx + dY·W + dxa·A", gotX, wantX)
}
