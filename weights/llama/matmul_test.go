package llama

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

// TestSgemm checks sgemm against a float64 loop with every micro-kernel this CPU runs, both transpositions of
// both operands, padded leading dimensions, a scale, accumulation, serial and parallel runs, and shapes that
// exercise every edge of the blocking: partial tiles in both directions, k not a multiple of the vector width
// or of kcMax, and the transposed path for few columns.
func TestSgemm(t *testing.T) {
	shapes := [][3]int{{1, 1, 1}, {1, 7, 5}, {3, 5, 9}, {12, 32, 8}, {13, 33, 7}, {5, 300, 13}, {17, 33, 70},
		{64, 260, 131}, {9, 1030, 7}, {100, 8, 64}, {8, 100, 600}, {50, 3, 513}, {131, 97, 257}}
	defer func(k *microKernel, p int) { kernel, parallelMin = k, p }(kernel, parallelMin)
	parallelMin = 1
	rng := rand.New(rand.NewPCG(1, 2))
	for _, kn := range kernels() {
		kernel = kn
		for _, sh := range shapes {
			m, n, k := sh[0], sh[1], sh[2]
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				tA, tB := tr[0], tr[1]
				name := fmt.Sprintf("%s/%dx%dx%d/tA=%v,tB=%v", kn.name, m, n, k, tA, tB)
				t.Run(name, func(t *testing.T) {
					// Leading dimensions one wider than needed catch a stride mix-up.
					lda, ldb, ldc := k+1, n+1, n+2
					if tA {
						lda = m + 1
					}
					if tB {
						ldb = k + 1
					}
					a := randSlice(rng, max(m, k)*lda)
					b := randSlice(rng, max(n, k)*ldb)
					c0 := randSlice(rng, m*ldc)
					opA := func(i, p int) float64 {
						if tA {
							return float64(a[p*lda+i])
						}
						return float64(a[i*lda+p])
					}
					opB := func(p, j int) float64 {
						if tB {
							return float64(b[j*ldb+p])
						}
						return float64(b[p*ldb+j])
					}
					const alpha = 0.75
					ref := make([]float64, m*n) // alpha·op(A)·op(B)
					for i := range m {
						for j := range n {
							var s float64
							for p := range k {
								s += opA(i, p) * opB(p, j)
							}
							ref[i*n+j] = alpha * s
						}
					}
					for _, acc := range []bool{false, true} {
						for _, par := range []bool{false, true} {
							c := slices.Clone(c0)
							sgemm(m, n, k, alpha, a, lda, tA, b, ldb, tB, acc, c, ldc, par)
							for i := range m {
								for j := range ldc {
									got := c[i*ldc+j]
									if j >= n {
										if got != c0[i*ldc+j] {
											t.Fatalf("acc=%v par=%v: C[%d][%d] beyond n changed", acc, par, i, j)
										}
										continue
									}
									want := ref[i*n+j]
									if acc {
										want += float64(c0[i*ldc+j])
									}
									near(t, fmt.Sprintf("acc=%v par=%v C[%d][%d]", acc, par, i, j), got, want, k)
								}
							}
						}
					}
				})
			}
		}
	}
}

// TestMatMul checks the three products of a linear layer, and the single-row path of decoding with the
// assembly strip kernel (where there is one) and the Go one, against plain loops.
func TestMatMul(t *testing.T) {
	shapes := [][3]int{{1, 1, 1}, {1, 7, 5}, {1, 300, 13}, {2, 33, 70}, {3, 5, 9}, {5, 300, 13}, {64, 260, 131}}
	strips := []bool{false}
	if useAVX2 {
		strips = append(strips, true)
	}
	defer func(v bool) { useAVX2 = v }(useAVX2)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, asm := range strips {
		useAVX2 = asm
		for _, sh := range shapes {
			tt, in, out := sh[0], sh[1], sh[2]
			t.Run(fmt.Sprintf("strip=%v/%dx%dx%d", asm, tt, in, out), func(t *testing.T) {
				x, w, dy := randSlice(rng, tt*in), randSlice(rng, out*in), randSlice(rng, tt*out)
				y := randSlice(rng, tt*out) // overwritten
				matMul(y, x, w, tt, in, out)
				y2 := slices.Clone(y)
				matMulAdd(y2, x, w, tt, in, out, -0.5)
				dx, dw := randSlice(rng, tt*in), randSlice(rng, out*in) // accumulated into
				dx0, dw0 := slices.Clone(dx), slices.Clone(dw)
				matMulBackX(dx, dy, w, tt, in, out)
				matMulBackW(dw, dy, x, tt, in, out)
				for r := range tt {
					for o := range out {
						var s float64
						for i := range in {
							s += float64(x[r*in+i]) * float64(w[o*in+i])
						}
						near(t, "y", y[r*out+o], s, in)
						near(t, "y2", y2[r*out+o], s/2, in)
					}
					for i := range in {
						s := float64(dx0[r*in+i])
						for o := range out {
							s += float64(dy[r*out+o]) * float64(w[o*in+i])
						}
						near(t, "dx", dx[r*in+i], s, out)
					}
				}
				for o := range out {
					for i := range in {
						s := float64(dw0[o*in+i])
						for r := range tt {
							s += float64(dy[r*out+o]) * float64(x[r*in+i])
						}
						near(t, "dw", dw[o*in+i], s, tt)
					}
				}
			})
		}
	}
}

// TestSgemmWorkers checks that results are bit-identical whatever the number of workers.
func TestSgemmWorkers(t *testing.T) {
	defer func(p int) { parallelMin = p }(parallelMin)
	parallelMin = 1
	rng := rand.New(rand.NewPCG(3, 4))
	const m, n, k = 200, 300, 600
	a, b := randSlice(rng, m*k), randSlice(rng, n*k)
	serial := make([]float32, m*n)
	sgemm(m, n, k, 1, a, k, false, b, k, true, false, serial, n, false)
	par := make([]float32, m*n)
	sgemm(m, n, k, 1, a, k, false, b, k, true, false, par, n, true)
	if !slices.Equal(serial, par) {
		t.Fatal("parallel result differs from serial")
	}
}

// near fails unless got is within float32 rounding of a sum of n unit-scale products.
func near(t *testing.T, what string, got float32, want float64, n int) {
	t.Helper()
	if d := math.Abs(float64(got) - want); d > 1e-5*float64(n+1) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

// TestTranspose checks transposeStrided, with the assembly blocks (where there are) and without, on shapes
// with and without whole 8×8 blocks and with leading dimensions wider than the matrices.
func TestTranspose(t *testing.T) {
	strips := []bool{false}
	if useAVX2 {
		strips = append(strips, true)
	}
	defer func(v bool) { useAVX2 = v }(useAVX2)
	for _, asm := range strips {
		useAVX2 = asm
		for _, sh := range [][2]int{{1, 1}, {3, 17}, {4, 16}, {8, 8}, {9, 33}, {64, 5}, {16, 40}, {23, 57}} {
			rows, cols := sh[0], sh[1]
			lds, ldd := cols+3, rows+5
			src := make([]float32, rows*lds)
			for i := range src {
				src[i] = float32(i)
			}
			dst := make([]float32, cols*ldd)
			transposeStrided(dst, ldd, src, lds, rows, cols)
			for j := range cols {
				for i := range ldd {
					want := float32(0) // untouched padding
					if i < rows {
						want = src[i*lds+j]
					}
					if dst[j*ldd+i] != want {
						t.Fatalf("asm=%v %dx%d: [%d][%d] = %v, want %v", asm, rows, cols, j, i, dst[j*ldd+i], want)
					}
				}
			}
		}
	}
}

func TestGemmErrors(t *testing.T) {
	a, b, c := make([]float32, 6), make([]float32, 6), make([]float32, 4)
	for _, tc := range []struct {
		name           string
		tA, tB         bool
		m, n, k        int
		lda, ldb, ldc  int
		a, b, c        []float32
		wantErrContain string
	}{
		{"negative", false, false, -1, 2, 3, 3, 2, 2, a, b, c, "negative"},
		{"short lda", false, false, 2, 2, 3, 2, 2, 2, a, b, c, "leading dimension"},
		{"short A", false, false, 3, 2, 3, 3, 2, 2, a, b, make([]float32, 6), "A has 6 values"},
		{"short B transposed", false, true, 2, 3, 3, 3, 3, 3, a, b, make([]float32, 6), "B has 6 values"},
		{"short C", false, false, 2, 2, 3, 3, 2, 2, a, b, c[:3], "C has 3 values"},
	} {
		err := Gemm(tc.tA, tc.tB, tc.m, tc.n, tc.k, 1, tc.a, tc.lda, tc.b, tc.ldb, false, tc.c, tc.ldc)
		if err == nil || !strings.Contains(err.Error(), tc.wantErrContain) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.wantErrContain)
		}
	}
	// Empty products are fine, and leave C alone when accumulating.
	if err := Gemm(false, false, 2, 2, 0, 1, nil, 0, nil, 0, true, c, 2); err != nil {
		t.Errorf("k = 0: %v", err)
	}
}

// TestGemmCausal checks the banded products against dense ones: bit-identical where the band holds the
// whole answer (triangular operands), and on the band with the rest of C untouched for a triangular result.
func TestGemmCausal(t *testing.T) {
	defer func(k *microKernel) { kernel = k }(kernel)
	rng := rand.New(rand.NewPCG(9, 10))
	for _, kn := range kernels() {
		kernel = kn
		for _, sh := range [][4]int{{1, 1, 1, 0}, {13, 13, 5, 0}, {40, 70, 33, 30}, {128, 128, 32, 0}, {50, 90, 16, 40}, {31, 20, 300, 0}} {
			m, n, k, d := sh[0], sh[1], sh[2], sh[3]
			for _, mode := range []int{bandLowerC, bandLowerA, bandUpperA} {
				t.Run(fmt.Sprintf("%s/mode%d/%dx%dx%d/d=%d", kn.name, mode, m, n, k, d), func(t *testing.T) {
					a, b := randSlice(rng, m*k), randSlice(rng, n*k)
					switch mode {
					case bandLowerA:
						for i := range m {
							for p := range k {
								if p > i+d {
									a[i*k+p] = 0
								}
							}
						}
					case bandUpperA:
						for i := range m {
							for p := range k {
								if p < i-d {
									a[i*k+p] = 0
								}
							}
						}
					}
					for _, acc := range []bool{false, true} {
						c0 := randSlice(rng, m*n)
						dense, banded := slices.Clone(c0), slices.Clone(c0)
						sgemm(m, n, k, 1, a, k, false, b, k, true, acc, dense, n, false)
						gemmCausal(banded, a, b, m, n, k, acc, mode, d)
						for i := range m {
							for j := range n {
								want := dense[i*n+j]
								if mode == bandLowerC && j > i+d {
									if banded[i*n+j] != c0[i*n+j] && banded[i*n+j] != want {
										t.Fatalf("acc=%v: C[%d][%d] above the band = %v, neither kept nor computed", acc, i, j, banded[i*n+j])
									}
									continue
								}
								if banded[i*n+j] != want {
									t.Fatalf("acc=%v: C[%d][%d] = %v, dense %v", acc, i, j, banded[i*n+j], want)
								}
							}
						}
					}
				})
			}
		}
	}
}

// TestKernelsAgreeOnModel runs a LoRA training step of a small model with every micro-kernel this CPU runs:
// losses and gradients must agree to float32 rounding.
func TestKernelsAgreeOnModel(t *testing.T) {
	defer func(k *microKernel) { kernel = k }(kernel)
	cfg := Config{Vocab: 97, Dim: 48, Hidden: 80, Layers: 2, Heads: 4, KVHeads: 2, ContextLength: 64,
		RopeBase: 10000, NormEps: 1e-5}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m.InitRandom(3, 0.1)
	a, err := NewAdapter(m, LoRAConfig{Rank: 4, Alpha: 8, Targets: linearNames[:]}, 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range a.Params() {
		for i := range p.Data {
			p.Data[i] += 0.01 * float32(i%7)
		}
	}
	seqs := make([]Sequence, 3)
	for i := range seqs {
		toks := make([]int32, 40+7*i)
		for j := range toks {
			toks[j] = int32((i*31 + j*13) % cfg.Vocab)
		}
		seqs[i] = Sequence{Tokens: toks, Start: 1}
	}
	var loss0 float64
	var grad0 []float32
	for i, kn := range kernels() {
		kernel = kn
		a.ZeroGrad()
		loss, _, err := m.LossAndGrad(t.Context(), seqs, a, false)
		if err != nil {
			t.Fatal(err)
		}
		var grad []float32
		for _, p := range a.Params() {
			grad = append(grad, p.Grad...)
		}
		if i == 0 {
			loss0, grad0 = loss, grad
			continue
		}
		if math.Abs(loss-loss0) > 1e-5*math.Abs(loss0) {
			t.Errorf("%s: loss %v, %s: %v", kn.name, loss, kernels()[0].name, loss0)
		}
		var diff, norm float64
		for j := range grad {
			d := float64(grad[j] - grad0[j])
			diff += d * d
			norm += float64(grad0[j]) * float64(grad0[j])
		}
		if math.Sqrt(diff) > 1e-4*math.Sqrt(norm) {
			t.Errorf("%s: gradient differs by %.2e (relative)", kn.name, math.Sqrt(diff/norm))
		}
	}
}

// TestSgemm2 checks the two-segment product against a float64 loop, with both operands of both segments in
// every layout, a second segment longer than a block of the first, and accumulation.
func TestSgemm2(t *testing.T) {
	defer func(k *microKernel, p int) { kernel, parallelMin = k, p }(kernel, parallelMin)
	parallelMin = 1
	rng := rand.New(rand.NewPCG(11, 12))
	for _, kn := range kernels() {
		kernel = kn
		for _, sh := range [][4]int{{13, 33, 7, 3}, {50, 64, 300, 200}, {100, 40, 64, 8}, {3, 5, 9, 2}} {
			m, n, k, k2 := sh[0], sh[1], sh[2], sh[3]
			for tr := range 16 {
				tA, tB, tA2, tB2 := tr&1 != 0, tr&2 != 0, tr&4 != 0, tr&8 != 0
				name := fmt.Sprintf("%s/%dx%dx%d+%d/%04b", kn.name, m, n, k, k2, tr)
				a, lda := randOperand(rng, m, k, tA)
				b, ldb := randOperand(rng, k, n, tB)
				a2, lda2 := randOperand(rng, m, k2, tA2)
				b2, ldb2 := randOperand(rng, k2, n, tB2)
				for _, acc := range []bool{false, true} {
					c0 := randSlice(rng, m*n)
					c := slices.Clone(c0)
					sgemm2(m, n, k, 0.5, a, lda, tA, b, ldb, tB, k2, -1.5, a2, lda2, tA2, b2, ldb2, tB2, acc, c, n, true)
					for i := range m {
						for j := range n {
							want := 0.5*opDot(a, lda, tA, b, ldb, tB, i, j, k) - 1.5*opDot(a2, lda2, tA2, b2, ldb2, tB2, i, j, k2)
							if acc {
								want += float64(c0[i*n+j])
							}
							near(t, fmt.Sprintf("%s acc=%v C[%d][%d]", name, acc, i, j), c[i*n+j], want, 2*(k+k2))
						}
					}
				}
			}
		}
	}
	// The LoRA helpers against their two-pass equivalents.
	const tt, in, out, r = 37, 40, 50, 4
	x, w, xa, bm := randSlice(rng, tt*in), randSlice(rng, out*in), randSlice(rng, tt*r), randSlice(rng, out*r)
	y1, y2 := make([]float32, tt*out), make([]float32, tt*out)
	matMulLoRA(y1, x, w, xa, bm, tt, in, out, r, 0.25)
	matMul(y2, x, w, tt, in, out)
	matMulAdd(y2, xa, bm, tt, r, out, 0.25)
	closeAll(t, "matMulLoRA", y1, y2, 1e-5)
	dy, am := randSlice(rng, tt*out), randSlice(rng, r*in)
	dx1 := randSlice(rng, tt*in)
	dx2 := slices.Clone(dx1)
	matMulBackXLoRA(dx1, dy, w, xa, am, tt, in, out, r)
	matMulBackX(dx2, dy, w, tt, in, out)
	matMulBackX(dx2, xa, am, tt, in, r)
	closeAll(t, "matMulBackXLoRA", dx1, dx2, 1e-5)
}

// randOperand returns a random rows×cols operand stored as sgemm reads it (transposed when t), and its
// leading dimension.
func randOperand(rng *rand.Rand, rows, cols int, t bool) ([]float32, int) {
	if t {
		return randSlice(rng, cols*rows), rows
	}
	return randSlice(rng, rows*cols), cols
}

// opDot returns Σ_p op(A)(i,p)·op(B)(p,j) in float64.
func opDot(a []float32, lda int, tA bool, b []float32, ldb int, tB bool, i, j, k int) float64 {
	var s float64
	for p := range k {
		var x, y float32
		if tA {
			x = a[p*lda+i]
		} else {
			x = a[i*lda+p]
		}
		if tB {
			y = b[j*ldb+p]
		} else {
			y = b[p*ldb+j]
		}
		s += float64(x) * float64(y)
	}
	return s
}

// TestSgemmColumnBlocks checks that splitting a product into blocks of columns (what sgemmJob does when
// packed B would exceed qBlockFloats) changes no bit of C, for every transposition, with and without
// accumulation and with a second segment (sgemm2).
func TestSgemmColumnBlocks(t *testing.T) {
	defer func(k *microKernel, p, qb int) { kernel, parallelMin, qBlockFloats = k, p, qb }(kernel, parallelMin, qBlockFloats)
	parallelMin = 1
	rng := rand.New(rand.NewPCG(5, 6))
	for _, kn := range kernels() {
		kernel = kn
		for _, sh := range [][3]int{{50, 600, 300}, {30, 1000, 70}, {100, 520, 513}} {
			m, n, k := sh[0], sh[1], sh[2]
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				tA, tB := tr[0], tr[1]
				t.Run(fmt.Sprintf("%s/%dx%dx%d/tA=%v,tB=%v", kn.name, m, n, k, tA, tB), func(t *testing.T) {
					lda, ldb := k, n
					if tA {
						lda = m
					}
					if tB {
						ldb = k
					}
					const r = 4
					a, b := randSlice(rng, max(m, k)*lda), randSlice(rng, max(n, k)*ldb)
					a2, b2 := randSlice(rng, m*r), randSlice(rng, n*r)
					c0 := randSlice(rng, m*n)
					run := func(qb int, acc, two bool) []float32 {
						qBlockFloats = qb
						c := append([]float32(nil), c0...)
						if two {
							sgemm2(m, n, k, 0.75, a, lda, tA, b, ldb, tB, r, 0.5, a2, r, false, b2, r, true, acc, c, n, true)
						} else {
							sgemm(m, n, k, 0.75, a, lda, tA, b, ldb, tB, acc, c, n, true)
						}
						return c
					}
					for _, acc := range []bool{false, true} {
						for _, two := range []bool{false, true} {
							whole, blocks := run(1<<30, acc, two), run(1, acc, two)
							if !slices.Equal(whole, blocks) {
								t.Fatalf("acc=%v, sgemm2=%v: column blocks change the result", acc, two)
							}
						}
					}
				})
			}
		}
	}
}
