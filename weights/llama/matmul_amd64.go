//go:build amd64 && !purego

package llama

import "golang.org/x/sys/cpu"

// useAVX2 selects the assembly kernel; tests switch it off to check the Go kernel against it.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// dot2x4AVX2 writes the eight dot products of rows a0, a1 with rows b0..b3 over the first k values (k a
// multiple of 8) into c, in the order a0·b0, a0·b1, a0·b2, a0·b3, a1·b0, ..., a1·b3.
//
//go:noescape
func dot2x4AVX2(a0, a1, b0, b1, b2, b3 *float32, k int, c *[8]float32)

// kernel2x4 adds the 2×4 block of dot products between rows a0,a1 and b0..b3 into c0[0:4] and c1[0:4].
func kernel2x4(c0, c1, a0, a1, b0, b1, b2, b3 []float32) {
	n := len(a0)
	k := n &^ 7
	if !useAVX2 || k == 0 {
		kernel2x4Go(c0, c1, a0, a1, b0, b1, b2, b3)
		return
	}
	a1, b0, b1, b2, b3 = a1[:n], b0[:n], b1[:n], b2[:n], b3[:n]
	var acc [8]float32
	dot2x4AVX2(&a0[0], &a1[0], &b0[0], &b1[0], &b2[0], &b3[0], k, &acc)
	c0, c1 = c0[:4], c1[:4]
	c0[0] += acc[0]
	c0[1] += acc[1]
	c0[2] += acc[2]
	c0[3] += acc[3]
	c1[0] += acc[4]
	c1[1] += acc[5]
	c1[2] += acc[6]
	c1[3] += acc[7]
	if k < n {
		kernel2x4Go(c0, c1, a0[k:], a1[k:], b0[k:], b1[k:], b2[k:], b3[k:])
	}
}
