package llama

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestMatMul checks the three products against plain loops, on shapes that exercise every edge of the
// blocking (odd rows and columns, k not a multiple of the vector width or of kBlock), with the assembly
// kernel (where there is one) and with the Go kernel.
func TestMatMul(t *testing.T) {
	shapes := [][3]int{{1, 1, 1}, {1, 7, 5}, {3, 5, 9}, {2, 4, 8}, {5, 300, 13}, {17, 33, 70}, {64, 260, 131}, {9, 1030, 7}}
	kernels := []bool{false}
	if useAVX2 {
		kernels = append(kernels, true)
	}
	defer func(v bool) { useAVX2 = v }(useAVX2)
	rng := rand.New(rand.NewPCG(1, 2))
	fill := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(rng.NormFloat64())
		}
		return s
	}
	for _, asm := range kernels {
		useAVX2 = asm
		for _, sh := range shapes {
			tt, in, out := sh[0], sh[1], sh[2]
			t.Run(fmt.Sprintf("asm=%v/%dx%dx%d", asm, tt, in, out), func(t *testing.T) {
				x, w, dy := fill(tt*in), fill(out*in), fill(tt*out)
				y := fill(tt * out) // overwritten
				matMul(y, x, w, tt, in, out)
				dx, dw := fill(tt*in), fill(out*in) // accumulated into
				dx0, dw0 := append([]float32(nil), dx...), append([]float32(nil), dw...)
				matMulBackX(dx, dy, w, tt, in, out)
				matMulBackW(dw, dy, x, tt, in, out)
				for r := range tt {
					for o := range out {
						var s float64
						for i := range in {
							s += float64(x[r*in+i]) * float64(w[o*in+i])
						}
						near(t, "y", y[r*out+o], s, in)
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

// near fails unless got is within float32 rounding of a sum of n unit-scale products.
func near(t *testing.T, what string, got float32, want float64, n int) {
	t.Helper()
	if d := math.Abs(float64(got) - want); d > 1e-5*float64(n+1) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func TestTranspose(t *testing.T) {
	for _, sh := range [][2]int{{1, 1}, {3, 17}, {4, 16}, {9, 33}, {64, 5}} {
		rows, cols := sh[0], sh[1]
		src := make([]float32, rows*cols)
		for i := range src {
			src[i] = float32(i)
		}
		dst := make([]float32, rows*cols)
		transpose(dst, src, rows, cols)
		for i := range rows {
			for j := range cols {
				if dst[j*rows+i] != src[i*cols+j] {
					t.Fatalf("%dx%d: [%d][%d] = %v, want %v", rows, cols, j, i, dst[j*rows+i], src[i*cols+j])
				}
			}
		}
	}
}
