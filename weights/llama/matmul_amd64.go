//go:build amd64 && !purego

package llama

import "golang.org/x/sys/cpu"

// useAVX2 selects the assembly kernel; tests switch it off to check the Go kernel against it.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// strip2x4AVX2 adds into c0[j] and c1[j], for j < ncols (a multiple of 4), the dot products over the first k
// values (k a multiple of 8) of rows a0 and a1 with the row of b that starts ldb floats after the previous.
//
//go:noescape
func strip2x4AVX2(a0, a1, b *float32, ldb, k, ncols int, c0, c1 *float32)

// strip2x4 adds into c0[j] and c1[j], for j < ncols (a multiple of 4), the dot products of rows a0 and a1
// with the rows of b that start at j·ldb, each len(a0) long.
func strip2x4(c0, c1, a0, a1, b []float32, ldb, ncols int) {
	kk := len(a0)
	k8 := kk &^ 7
	if !useAVX2 || k8 == 0 || ncols == 0 {
		strip2x4Go(c0, c1, a0, a1, b, ldb, ncols)
		return
	}
	// Bounds the assembly relies on, checked once.
	_, _, _, _ = a1[kk-1], b[(ncols-1)*ldb+kk-1], c0[ncols-1], c1[ncols-1]
	strip2x4AVX2(&a0[0], &a1[0], &b[0], ldb, k8, ncols, &c0[0], &c1[0])
	if k8 < kk {
		t0, t1 := a0[k8:], a1[k8:kk]
		for j := range ncols {
			bj := b[j*ldb+k8 : j*ldb+kk]
			c0[j] += dot(t0, bj)
			c1[j] += dot(t1, bj)
		}
	}
}
