package llama

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/fastslow/fastslow/weights/gguf"
)

// Quantized matrix products as llama.cpp computes them on the CPU. ggml multiplies a quantized weight matrix
// by first quantizing each input row to the matching activation format (Q8_0 blocks of 32 for Q4_0 and Q8_0
// weights, Q8_K blocks of 256 for K-quants), then taking integer dot products block by block and summing the
// scaled block results in float32. The ports below follow ggml-cpu-quants.c's portable code, the one a build
// without SIMD extensions runs (Ollama built with `go install` on x86-64, whose cgo flags select no
// -march); integer parts are exact in any order, float parts are evaluated in ggml's order, with explicit
// conversions so the compiler fuses nothing.

// quantMatrix is a weight matrix kept in its GGUF format.
type quantMatrix struct {
	typ        gguf.Type
	w          *Param // the same weights in float32
	in, out    int    // values per row (n_in), rows (n_out)
	raw        []byte // out rows of rowBytes; nil for F16, whose values Data holds exactly
	rowBytes   int
	blockBytes int
	act        actFormat
	enc        bool // the base keeps only this form (SetEncoded): products decode raw; raw is set for F16 too
}

// actFormat is the format ggml converts the inputs of a product to (vec_dot_type).
type actFormat int

const (
	actQ8_0 actFormat = iota // blocks of 32 int8 with an fp16 scale
	actQ8_1                  // blocks of 32 int8 with an fp16 scale and an fp16 scaled sum
	actQ8_K                  // blocks of 256 int8 with a float32 scale and 16 partial sums
	actF16                   // float16 values
)

// quantFormats lists the weight formats whose products are reproduced, with their block geometry.
var quantFormats = map[gguf.Type]struct {
	block, bytes int
	act          actFormat
}{
	gguf.TypeF16:  {1, 2, actF16},
	gguf.TypeQ4_0: {32, 18, actQ8_0},
	gguf.TypeQ4_1: {32, 20, actQ8_1},
	gguf.TypeQ5_0: {32, 22, actQ8_0},
	gguf.TypeQ5_1: {32, 24, actQ8_1},
	gguf.TypeQ8_0: {32, 34, actQ8_0},
	gguf.TypeQ4_K: {256, 144, actQ8_K},
	gguf.TypeQ5_K: {256, 176, actQ8_K},
	gguf.TypeQ6_K: {256, 210, actQ8_K},
}

// QuantizedTypes returns the weight types whose matrix products Precision.Quantized reproduces.
func QuantizedTypes() []gguf.Type {
	return []gguf.Type{gguf.TypeF16, gguf.TypeQ4_0, gguf.TypeQ4_1, gguf.TypeQ5_0, gguf.TypeQ5_1, gguf.TypeQ8_0,
		gguf.TypeQ4_K, gguf.TypeQ5_K, gguf.TypeQ6_K}
}

// SetQuantized keeps raw, the GGUF data of the matrix name in format typ, so that inference with
// Precision.Quantized multiplies by it as llama.cpp does. The matrix's float32 Data must hold the same
// weights dequantized (the loader reads both from one tensor); training uses Data and does not update raw,
// so a model whose base is trained must not keep its quantized forms. raw is kept, not copied. For F16 only
// the type is kept: Data holds float16 values exactly.
func (m *Model) SetQuantized(name string, typ gguf.Type, raw []byte) error {
	q, err := m.newQuantMatrix("set quantized", name, typ, raw, QuantizedTypes())
	if err != nil {
		return err
	}
	if typ == gguf.TypeF16 {
		q.raw = nil
	}
	m.quant[q.w] = q
	return nil
}

// newQuantMatrix checks that raw holds the matrix name of m in format typ (one of supported) and returns its
// quantMatrix, not yet kept; op names the caller in errors.
func (m *Model) newQuantMatrix(op, name string, typ gguf.Type, raw []byte, supported []gguf.Type) (*quantMatrix, error) {
	p, ok := m.byName[name]
	if !ok || len(p.Shape) != 2 {
		return nil, fmt.Errorf("llama: %s: %s is not a matrix of the model", op, name)
	}
	f, ok := quantFormats[typ]
	if !ok {
		return nil, fmt.Errorf("llama: %s %s: type %v is not supported (supported: %v)", op, name, typ, supported)
	}
	in, out := p.Shape[0], p.Shape[1]
	if in%f.block != 0 {
		return nil, fmt.Errorf("llama: %s %s: rows of %d values do not fill %v blocks of %d", op, name, in, typ, f.block)
	}
	rowBytes := in / f.block * f.bytes
	if len(raw) != rowBytes*out {
		return nil, fmt.Errorf("llama: %s %s: %d bytes, want %d", op, name, len(raw), rowBytes*out)
	}
	if m.quant == nil {
		m.quant = make(map[*Param]*quantMatrix)
	}
	return &quantMatrix{typ: typ, w: p, in: in, out: out, raw: raw, rowBytes: rowBytes, blockBytes: f.bytes, act: f.act}, nil
}

// Quantized returns the type of the quantized form kept for the matrix name, if any.
func (m *Model) Quantized(name string) (gguf.Type, bool) {
	p, ok := m.byName[name]
	if !ok {
		return 0, false
	}
	q, ok := m.quant[p]
	if !ok {
		return 0, false
	}
	return q.typ, true
}

// ClearQuantized drops every kept quantized form, for example before training the base weights.
func (m *Model) ClearQuantized() { m.quant = nil }

// mul computes y = x·Wᵀ for n rows of x as ggml_mul_mat does with this weight format; f64 selects float64
// sums for F16 (Precision.GGMLPortable).
func (q *quantMatrix) mul(y, x []float32, n int, f64 bool) {
	if q.act == actF16 {
		xh := getScratch(n * q.in)
		copy(xh, x[:n*q.in])
		roundHalfAll(xh)
		switch {
		case q.enc && f64:
			w := q.decodeAll()
			mulF64(y, xh, w, n, q.in, q.out)
			putScratch(w)
		case q.enc:
			q.matMul(y, xh, n)
		case f64:
			mulF64(y, xh, q.w.Data, n, q.in, q.out)
		default:
			matMul(y, xh, q.w.Data, n, q.in, q.out)
		}
		putScratch(xh)
		return
	}
	if q.mulInt8(y, x, n) { // this CPU's kernels, equal to the ports below
		return
	}
	for r := range n {
		xr := x[r*q.in : (r+1)*q.in]
		yr := y[r*q.out : (r+1)*q.out]
		switch q.act {
		case actQ8_0, actQ8_1:
			act := quantizeQ8_0(xr, q.act == actQ8_1)
			parallelChunks(q.out, 64, func(lo, hi int) {
				for o := lo; o < hi; o++ {
					yr[o] = q.dotQ8_0(q.raw[o*q.rowBytes:(o+1)*q.rowBytes], act)
				}
			})
		case actQ8_K:
			act := quantizeQ8_K(xr)
			parallelChunks(q.out, 16, func(lo, hi int) {
				for o := lo; o < hi; o++ {
					yr[o] = q.dotQ8_K(q.raw[o*q.rowBytes:(o+1)*q.rowBytes], act)
				}
			})
		}
	}
}

// q8Block is a block_q8_0 or block_q8_1: 32 values d·qs[i], and for Q8_1 s = d·Σqs.
type q8Block struct {
	d  float32 // the fp16 scale, widened
	s  float32 // Q8_1: the fp16 scaled sum, widened
	qs [32]int8
}

// quantizeQ8_0 is quantize_row_q8_0_ref, or with sum quantize_row_q8_1_ref: per block, d = amax/127 stored
// as fp16 and qs = roundf(x/d), with the division done as a multiplication by the float32 inverse of the
// unrounded d; Q8_1 adds s = fp16(Σqs·d).
func quantizeQ8_0(x []float32, sum bool) []q8Block {
	out := make([]q8Block, len(x)/32)
	for b := range out {
		xb := x[b*32 : b*32+32]
		var amax float32
		for _, v := range xb {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		out[b].d = gguf.FP16ToFP32(gguf.FP32ToFP16(d))
		total := 0
		for j, v := range xb {
			out[b].qs[j] = int8(math.Round(float64(float32(v * id)))) // roundf: half away from zero
			total += int(out[b].qs[j])
		}
		if sum {
			out[b].s = gguf.FP16ToFP32(gguf.FP32ToFP16(float32(float32(total) * d)))
		}
	}
	return out
}

// q8KBlock is a block_q8_K: 256 values d·qs[i] and the sums of each 16 of them.
type q8KBlock struct {
	d     float32
	qs    [256]int8
	bsums [16]int32
}

// quantizeQ8_K is quantize_row_q8_K_ref: the scale comes from the value of largest magnitude (the first
// such), iscale = −127/max, qs = nearest_int(iscale·x) capped at 127, d = 1/iscale.
func quantizeQ8_K(x []float32) []q8KBlock {
	out := make([]q8KBlock, len(x)/256)
	for b := range out {
		xb := x[b*256 : b*256+256]
		var mx, amax float32
		for _, v := range xb {
			if ax := float32(math.Abs(float64(v))); ax > amax {
				amax, mx = ax, v
			}
		}
		if amax == 0 {
			continue // d = 0, qs = 0
		}
		iscale := -127 / mx
		blk := &out[b]
		for j, v := range xb {
			blk.qs[j] = int8(min(127, nearestInt(float32(iscale*v))))
		}
		for j := range blk.bsums {
			s := int32(0)
			for _, q := range blk.qs[j*16 : j*16+16] {
				s += int32(q)
			}
			blk.bsums[j] = s
		}
		blk.d = 1 / iscale
	}
	return out
}

// nearestInt is ggml's nearest_int: round to nearest, ties to even, by the float32 magic-number trick.
func nearestInt(f float32) int {
	val := float32(f + 12582912)
	i := int32(math.Float32bits(val))
	return int((i & 0x007fffff) - 0x00400000)
}

func fp16At(b []byte) float32 { return gguf.FP16ToFP32(binary.LittleEndian.Uint16(b)) }

// dotQ8_0 is ggml_vec_dot_{q4_0,q5_0,q8_0}_q8_0 or ggml_vec_dot_{q4_1,q5_1}_q8_1 (portable code) of one
// weight row. In the 4- and 5-bit formats, low nibbles hold values 0..15 of a block and high nibbles 16..31;
// Q5 keeps each value's fifth bit in a 32-bit word.
func (q *quantMatrix) dotQ8_0(row []byte, act []q8Block) float32 {
	var sumf float32
	for b := range act {
		blk := row[b*q.blockBytes : (b+1)*q.blockBytes]
		y := &act[b]
		dx := fp16At(blk)
		sumi := int32(0)
		switch q.typ {
		case gguf.TypeQ8_0:
			for j, v := range blk[2:34] {
				sumi += int32(int8(v)) * int32(y.qs[j])
			}
			sumf += float32(float32(sumi) * float32(dx*y.d))
		case gguf.TypeQ4_0:
			sumi0, sumi1 := int32(0), int32(0)
			for j, v := range blk[2:18] {
				sumi0 += (int32(v&0x0f) - 8) * int32(y.qs[j])
				sumi1 += (int32(v>>4) - 8) * int32(y.qs[j+16])
			}
			sumf += float32(float32(float32(sumi0+sumi1)*dx) * y.d)
		case gguf.TypeQ4_1:
			mx := fp16At(blk[2:])
			for j, v := range blk[4:20] {
				sumi += int32(v&0x0f)*int32(y.qs[j]) + int32(v>>4)*int32(y.qs[j+16])
			}
			sumf += float32(float32(float32(dx*y.d)*float32(sumi)) + float32(mx*y.s))
		case gguf.TypeQ5_0:
			qh := binary.LittleEndian.Uint32(blk[2:])
			for j, v := range blk[6:22] {
				x0 := int32(v&0x0f|byte(qh>>j&1)<<4) - 16
				x1 := int32(v>>4|byte(qh>>(j+16)&1)<<4) - 16
				sumi += x0*int32(y.qs[j]) + x1*int32(y.qs[j+16])
			}
			sumf += float32(float32(dx*y.d) * float32(sumi))
		case gguf.TypeQ5_1:
			mx := fp16At(blk[2:])
			qh := binary.LittleEndian.Uint32(blk[4:])
			for j, v := range blk[8:24] {
				x0 := int32(v&0x0f | byte(qh>>j&1)<<4)
				x1 := int32(v>>4 | byte(qh>>(j+16)&1)<<4)
				sumi += x0*int32(y.qs[j]) + x1*int32(y.qs[j+16])
			}
			sumf += float32(float32(float32(dx*y.d)*float32(sumi)) + float32(mx*y.s))
		}
	}
	return sumf
}

// dotQ8_K is ggml_vec_dot_q4_K_q8_K, ggml_vec_dot_q5_K_q8_K or ggml_vec_dot_q6_K_q8_K (portable code) of one
// weight row: per super-block, the integer products are gathered in 8 lanes (value k goes to lane k%8),
// scaled per lane in float32, and the lanes summed at the end.
func (q *quantMatrix) dotQ8_K(row []byte, act []q8KBlock) float32 {
	var sums [8]float32
	var sumf float32
	var a [256]int8
	for b := range act {
		blk := row[b*q.blockBytes : (b+1)*q.blockBytes]
		y := &act[b]
		var aux [8]int32
		switch q.typ {
		case gguf.TypeQ4_K, gguf.TypeQ5_K:
			scales := blk[4:16]
			qs := blk[16:]
			var qh []byte
			if q.typ == gguf.TypeQ5_K {
				qh, qs = blk[16:48], blk[48:]
			}
			for j := range 4 {
				for l := range 32 {
					lo, hi := int8(qs[32*j+l]&0x0f), int8(qs[32*j+l]>>4)
					if qh != nil {
						if qh[l]&(1<<(2*j)) != 0 {
							lo += 16
						}
						if qh[l]&(2<<(2*j)) != 0 {
							hi += 16
						}
					}
					a[64*j+l], a[64*j+32+l] = lo, hi
				}
			}
			sumi := int32(0)
			for j := range 16 {
				_, mn := scaleMinK4(j/2, scales)
				sumi += y.bsums[j] * int32(mn)
			}
			for k := range 256 {
				sc, _ := scaleMinK4(k/32, scales)
				aux[k%8] += int32(sc) * int32(int16(y.qs[k])*int16(a[k]))
			}
			d := float32(fp16At(blk[0:2]) * y.d)
			for l := range sums {
				sums[l] += float32(d * float32(aux[l]))
			}
			dmin := float32(fp16At(blk[2:4]) * y.d)
			sumf -= float32(dmin * float32(sumi))
		case gguf.TypeQ6_K:
			ql, qh, scales := blk[0:128], blk[128:192], blk[192:208]
			for h := range 2 {
				q4, qhh, ah := ql[64*h:], qh[32*h:], a[128*h:]
				for l := range 32 {
					ah[l] = int8(q4[l]&0x0f|(qhh[l]>>0&3)<<4) - 32
					ah[l+32] = int8(q4[l+32]&0x0f|(qhh[l]>>2&3)<<4) - 32
					ah[l+64] = int8(q4[l]>>4|(qhh[l]>>4&3)<<4) - 32
					ah[l+96] = int8(q4[l+32]>>4|(qhh[l]>>6&3)<<4) - 32
				}
			}
			for k := range 256 {
				aux[k%8] += int32(int8(scales[k/16])) * int32(int16(y.qs[k])*int16(a[k]))
			}
			d := float32(fp16At(blk[208:210]) * y.d)
			for l := range sums {
				sums[l] += float32(d * float32(aux[l]))
			}
		}
	}
	for _, s := range sums {
		sumf += s
	}
	return sumf
}

// scaleMinK4 is ggml's get_scale_min_k4: the 6-bit scale and min of sub-block j of a Q4_K/Q5_K block.
func scaleMinK4(j int, q []byte) (d, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xF | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}
