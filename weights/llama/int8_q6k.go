package llama

import (
	"sync"

	"github.com/fastslow/fastslow/weights/gguf"
)

// Q6_K × Q8_K products on int8 activations, bit-identical to quantMatrix.dotQ8_K's Q6_K branch (the port of
// ggml's portable ggml_vec_dot_q6_K_q8_K). The port gathers the integer products of a super-block in 8 lanes,
// value k in lane k%8, scales each lane by d in float32 and sums the lanes after the last block. Integer sums
// are exact in any order, so a kernel matches the port bit for bit as long as every lane holds exactly the
// products of its own values. ggml's AVX2 kernel multiplies adjacent values in pairs (vpmaddubsw), which mixes
// lanes; the kernel here pairs value i with value i+8 of each group of 16 instead: it shuffles the weights within
// 128-bit halves and takes the activation in a layout prepared once per product (q6kAct).

// q6kAct is a Q8_K activation block (q8KBlock) laid out for the Q6_K kernel: within each group of 16 values the
// order is 0, 8, 1, 9, …, 7, 15, so that adjacent bytes are values of one lane; corr[j] is 32 times the sum of
// the pair of values qs[2j], qs[2j+1], which removes Q6_K's offset of 32 from the products of the unsigned 6-bit
// weights. 544 bytes, a multiple of 32.
type q6kAct struct {
	qs   [256]int8
	corr [128]int16
	d    float32
	_    [7]float32
}

// q6kPos is the position in q6kAct.qs of value k%16 of a group of 16.
var q6kPos = [16]int{0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15}

// prepQ6K lays out the activation blocks src for the Q6_K kernel in dst (len(src) blocks).
func prepQ6K(dst []q6kAct, src []q8KBlock) {
	for b := range src {
		s, d := &src[b], &dst[b]
		for g := range 16 {
			for i := range 16 {
				d.qs[16*g+q6kPos[i]] = s.qs[16*g+i]
			}
			for j := range 8 {
				d.corr[8*g+j] = 32 * (int16(s.qs[16*g+j]) + int16(s.qs[16*g+j+8]))
			}
		}
		d.d = s.d
	}
}

// fp16Floats is gguf.FP16ToFP32 as a table the assembly reads.
var fp16Floats = sync.OnceValue(func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = gguf.FP16ToFP32(uint16(i))
	}
	return &t
})

// dotQ6K sets out[r] to the product of the Q6_K weight row w (len(act[r]) blocks of 210 bytes) with the
// prepared activation row act[r], for each r; bit-identical to quantMatrix.dotQ8_K. Rows are taken four at a
// time by the AVX2 kernel where there is one.
func dotQ6K(out []float32, w []byte, act [][]q6kAct) {
	nb := len(w) / 210
	r := 0
	if useAVX2 && nb > 0 {
		tab := fp16Floats()
		for ; r+4 <= len(act); r += 4 {
			a0, a1, a2, a3 := act[r][:nb], act[r+1][:nb], act[r+2][:nb], act[r+3][:nb]
			dotQ6KAVX2x4(&w[0], nb, &a0[0], &a1[0], &a2[0], &a3[0], &tab[0], (*[4]float32)(out[r:r+4]))
		}
		for ; r < len(act); r++ {
			a := act[r][:nb]
			dotQ6KAVX2x1(&w[0], nb, &a[0], &tab[0], &out[r])
		}
		return
	}
	for ; r < len(act); r++ {
		out[r] = dotQ6KGo(w, act[r][:nb])
	}
}

// dotQ6KGo is the kernel's arithmetic in Go on the prepared layout: the port's order exactly.
func dotQ6KGo(w []byte, act []q6kAct) float32 {
	var sums [8]float32
	for b := range act {
		blk, y := w[210*b:210*b+210], &act[b]
		ql, qh, sc := blk[0:128], blk[128:192], blk[192:208]
		var aux [8]int32
		for k := range 256 {
			h, l := k/128, k%32
			var u byte
			switch k % 128 / 32 {
			case 0:
				u = ql[64*h+l]&0x0f | (qh[32*h+l]&3)<<4
			case 1:
				u = ql[64*h+32+l]&0x0f | (qh[32*h+l]>>2&3)<<4
			case 2:
				u = ql[64*h+l]>>4 | (qh[32*h+l]>>4&3)<<4
			case 3:
				u = ql[64*h+32+l]>>4 | (qh[32*h+l]>>6&3)<<4
			}
			aux[k%8] += int32(int8(sc[k/16])) * (int32(u) - 32) * int32(y.qs[k/16*16+q6kPos[k%16]])
		}
		d := float32(fp16At(blk[208:210]) * y.d)
		for l := range sums {
			sums[l] += float32(d * float32(aux[l]))
		}
	}
	var sumf float32
	for _, s := range sums {
		sumf += s
	}
	return sumf
}
