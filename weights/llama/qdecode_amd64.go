//go:build amd64 && !purego

package llama

// expandQ8AVX2 sets dst[32·i+j] = float32(int8(src[34·i+2+j])) · scales[i] for i < n, j < 32: n Q8_0
// blocks whose fp16 scales the caller has converted.
//
//go:noescape
func expandQ8AVX2(src *byte, n int, scales *float32, dst *float32)

// expandQ4KAVX2 expands the 128 bytes of 4-bit values qs of a Q4_K block into 256 values: sub-block s
// (32 values, the low nibbles of bytes 32·(s/2)… for even s, the high ones for odd s) is
// float32(dm[2s]·q) − dm[2s+1].
//
//go:noescape
func expandQ4KAVX2(qs *byte, dm *float32, dst *float32)

// expandQ6KAVX2 expands half a Q6_K block, 64 bytes of low bits ql and 32 of high bits qh, into 128 values,
// each group of 16 multiplied by its scale sc[g] (d times the group's int8 scale).
//
//go:noescape
func expandQ6KAVX2(ql, qh *byte, sc *float32, dst *float32)
