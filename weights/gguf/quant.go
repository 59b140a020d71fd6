package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
)

// This file holds the plain and 32-element block formats. Every function is
// a line-by-line port of the matching ggml function in ggml-quants.c; the
// float32 conversions keep each operation rounded to float32 as in C and
// prevent fused multiply-adds.

// Dequantize converts the tensor data src of type t into dst, exactly like
// ggml's dequantize_row_* (or plain conversion for F32, F16 and BF16).
// len(dst) is the number of elements; src must hold exactly
// t.RowBytes(len(dst)) bytes. Supported types: F32, F16, BF16, Q4_0, Q4_1,
// Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K and Q6_K.
func Dequantize(t Type, src []byte, dst []float32) error {
	if !canDequantize(t) {
		return fmt.Errorf("gguf: dequantize: unsupported type %s", t)
	}
	n := uint64(len(dst))
	if n%t.BlockSize() != 0 {
		return fmt.Errorf("gguf: dequantize %s: %d elements is not a multiple of the block size %d", t, n, t.BlockSize())
	}
	if want := t.RowBytes(n); uint64(len(src)) != want {
		return fmt.Errorf("gguf: dequantize %s: %d elements need %d bytes, got %d", t, n, want, len(src))
	}
	dequantizers[t](src, dst)
	return nil
}

// Quantize converts src to tensor data of type t, bit-identically to ggml's
// reference quantizers (quantize_row_*_ref) and float conversions.
// Supported types: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K,
// Q4_K, Q5_K and Q6_K.
// len(src) must be a multiple of t.BlockSize(). Quantized types reject NaN
// and infinite inputs, for which ggml's result is undefined.
func Quantize(t Type, src []float32) ([]byte, error) {
	q, ok := quantizers[t]
	if !ok {
		return nil, fmt.Errorf("gguf: quantize: unsupported type %s", t)
	}
	n := uint64(len(src))
	if n%t.BlockSize() != 0 {
		return nil, fmt.Errorf("gguf: quantize %s: %d elements is not a multiple of the block size %d", t, n, t.BlockSize())
	}
	if t.BlockSize() > 1 {
		for i, v := range src {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("gguf: quantize %s: element %d is %v", t, i, v)
			}
		}
	}
	dst := make([]byte, t.RowBytes(n))
	q(src, dst)
	return dst, nil
}

func canDequantize(t Type) bool {
	_, ok := dequantizers[t]
	return ok
}

var dequantizers map[Type]func(src []byte, dst []float32)
var quantizers map[Type]func(src []float32, dst []byte)

func init() {
	dequantizers = map[Type]func([]byte, []float32){
		TypeF32:  dequantizeF32,
		TypeF16:  dequantizeF16,
		TypeBF16: dequantizeBF16,
		TypeQ4_0: dequantizeQ4_0,
		TypeQ4_1: dequantizeQ4_1,
		TypeQ5_0: dequantizeQ5_0,
		TypeQ5_1: dequantizeQ5_1,
		TypeQ8_0: dequantizeQ8_0,
	}
	quantizers = map[Type]func([]float32, []byte){
		TypeF32:  quantizeF32,
		TypeF16:  quantizeF16,
		TypeBF16: quantizeBF16,
		TypeQ4_0: quantizeQ4_0,
		TypeQ4_1: quantizeQ4_1,
		TypeQ5_0: quantizeQ5_0,
		TypeQ5_1: quantizeQ5_1,
		TypeQ8_0: quantizeQ8_0,
	}
	// The K-quant entries live in kquant.go.
	for t, f := range kDequantizers {
		dequantizers[t] = f
	}
	for t, f := range kQuantizers {
		quantizers[t] = f
	}
}

var le = binary.LittleEndian

func dequantizeF32(src []byte, dst []float32) {
	for i := range dst {
		dst[i] = math.Float32frombits(le.Uint32(src[4*i:]))
	}
}

func quantizeF32(src []float32, dst []byte) {
	for i, v := range src {
		le.PutUint32(dst[4*i:], math.Float32bits(v))
	}
}

func dequantizeF16(src []byte, dst []float32) {
	t := fp16Table()
	for i := range dst {
		dst[i] = t[le.Uint16(src[2*i:])]
	}
}

func quantizeF16(src []float32, dst []byte) {
	for i, v := range src {
		le.PutUint16(dst[2*i:], FP32ToFP16(v))
	}
}

func dequantizeBF16(src []byte, dst []float32) {
	for i := range dst {
		dst[i] = BF16ToFP32(le.Uint16(src[2*i:]))
	}
}

func quantizeBF16(src []float32, dst []byte) {
	for i, v := range src {
		le.PutUint16(dst[2*i:], FP32ToBF16(v))
	}
}

// fp16At reads the little-endian half at b[0:2] as float32.
func fp16At(b []byte) float32 { return FP16ToFP32(le.Uint16(b)) }

// cInt32 converts like a C float-to-int cast compiled for x86-64
// (cvttss2si): truncation toward zero, and 0x80000000 for NaN and values
// out of range. ggml's casts to int8_t/uint8_t go through it; pinning the
// out-of-range case keeps degenerate blocks (e.g. subnormal scales whose
// inverse overflows) identical on every architecture.
func cInt32(f float32) int32 {
	if !(f > -2147483904 && f < 2147483648) { // also catches NaN
		return math.MinInt32
	}
	return int32(f)
}

func cInt8(f float32) int8   { return int8(cInt32(f)) }
func cUint8(f float32) uint8 { return uint8(cInt32(f)) }

// roundf rounds half away from zero, like C's roundf.
func roundf(f float32) float32 { return float32(math.Round(float64(f))) }

// inverse returns 1/d, or 0 for d == 0, as ggml's "d ? 1.0f/d : 0.0f".
func inverse(d float32) float32 {
	if d == 0 {
		return 0
	}
	return 1 / d
}

const qk = 32 // QK4_0 = QK4_1 = QK5_0 = QK5_1 = QK8_0

func quantizeQ8_0(x []float32, y []byte) {
	const bs = 2 + qk
	for i := 0; i < len(x)/qk; i++ {
		xb, yb := x[i*qk:(i+1)*qk], y[i*bs:(i+1)*bs]
		var amax float32
		for _, v := range xb {
			amax = max32(amax, abs32(v))
		}
		d := amax / ((1 << 7) - 1)
		id := inverse(d)
		le.PutUint16(yb, FP32ToFP16(d))
		for j, v := range xb {
			yb[2+j] = byte(cInt8(roundf(v * id)))
		}
	}
}

func dequantizeQ8_0(x []byte, y []float32) {
	const bs = 2 + qk
	for i := 0; i < len(y)/qk; i++ {
		xb, yb := x[i*bs:(i+1)*bs], y[i*qk:(i+1)*qk]
		d := fp16At(xb)
		for j := range yb {
			yb[j] = float32(int8(xb[2+j])) * d
		}
	}
}

func quantizeQ4_0(x []float32, y []byte) {
	const bs = 2 + qk/2
	for i := 0; i < len(x)/qk; i++ {
		xb, yb := x[i*qk:(i+1)*qk], y[i*bs:(i+1)*bs]
		_, vmax := absMax(xb)
		d := vmax / -8
		id := inverse(d)
		le.PutUint16(yb, FP32ToFP16(d))
		for j := 0; j < qk/2; j++ {
			x0 := xb[j] * id
			x1 := xb[qk/2+j] * id
			xi0 := uint8(min(15, int(cInt8(x0+8.5))))
			xi1 := uint8(min(15, int(cInt8(x1+8.5))))
			yb[2+j] = xi0 | xi1<<4
		}
	}
}

func dequantizeQ4_0(x []byte, y []float32) {
	const bs = 2 + qk/2
	for i := 0; i < len(y)/qk; i++ {
		xb, yb := x[i*bs:(i+1)*bs], y[i*qk:(i+1)*qk]
		d := fp16At(xb)
		for j := 0; j < qk/2; j++ {
			x0 := int(xb[2+j]&0x0F) - 8
			x1 := int(xb[2+j]>>4) - 8
			yb[j] = float32(x0) * d
			yb[j+qk/2] = float32(x1) * d
		}
	}
}

// absMax returns the largest magnitude in xb and the value that has it (the
// first one on ties), as ggml's quantizers find them.
func absMax(xb []float32) (amax, vmax float32) {
	for _, v := range xb {
		if ax := abs32(v); ax > amax {
			amax = ax
			vmax = v
		}
	}
	return amax, vmax
}

// minMax returns the minimum and maximum of xb starting from ±FLT_MAX, as
// the Q4_1 and Q5_1 quantizers do.
func minMax(xb []float32) (lo, hi float32) {
	lo, hi = math.MaxFloat32, -math.MaxFloat32
	for _, v := range xb {
		if v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	return lo, hi
}

func quantizeQ4_1(x []float32, y []byte) {
	const bs = 4 + qk/2
	for i := 0; i < len(x)/qk; i++ {
		xb, yb := x[i*qk:(i+1)*qk], y[i*bs:(i+1)*bs]
		lo, hi := minMax(xb)
		d := float32(hi-lo) / ((1 << 4) - 1)
		id := inverse(d)
		le.PutUint16(yb, FP32ToFP16(d))
		le.PutUint16(yb[2:], FP32ToFP16(lo))
		for j := 0; j < qk/2; j++ {
			x0 := float32(xb[j]-lo) * id
			x1 := float32(xb[qk/2+j]-lo) * id
			xi0 := uint8(min(15, int(cInt8(x0+0.5))))
			xi1 := uint8(min(15, int(cInt8(x1+0.5))))
			yb[4+j] = xi0 | xi1<<4
		}
	}
}

func dequantizeQ4_1(x []byte, y []float32) {
	const bs = 4 + qk/2
	for i := 0; i < len(y)/qk; i++ {
		xb, yb := x[i*bs:(i+1)*bs], y[i*qk:(i+1)*qk]
		d, m := fp16At(xb), fp16At(xb[2:])
		for j := 0; j < qk/2; j++ {
			x0 := xb[4+j] & 0x0F
			x1 := xb[4+j] >> 4
			yb[j] = float32(float32(x0)*d) + m
			yb[j+qk/2] = float32(float32(x1)*d) + m
		}
	}
}

func quantizeQ5_0(x []float32, y []byte) {
	const bs = 2 + 4 + qk/2
	for i := 0; i < len(x)/qk; i++ {
		xb, yb := x[i*qk:(i+1)*qk], y[i*bs:(i+1)*bs]
		_, vmax := absMax(xb)
		d := vmax / -16
		id := inverse(d)
		le.PutUint16(yb, FP32ToFP16(d))
		var qh uint32
		for j := 0; j < qk/2; j++ {
			x0 := xb[j] * id
			x1 := xb[qk/2+j] * id
			xi0 := uint8(min(31, int(cInt8(x0+16.5))))
			xi1 := uint8(min(31, int(cInt8(x1+16.5))))
			yb[6+j] = xi0&0x0F | (xi1&0x0F)<<4
			qh |= uint32(xi0&0x10) >> 4 << j
			qh |= uint32(xi1&0x10) >> 4 << (j + qk/2)
		}
		le.PutUint32(yb[2:], qh)
	}
}

func dequantizeQ5_0(x []byte, y []float32) {
	const bs = 2 + 4 + qk/2
	for i := 0; i < len(y)/qk; i++ {
		xb, yb := x[i*bs:(i+1)*bs], y[i*qk:(i+1)*qk]
		d := fp16At(xb)
		qh := le.Uint32(xb[2:])
		for j := 0; j < qk/2; j++ {
			xh0 := uint8(qh>>j<<4) & 0x10
			xh1 := uint8(qh>>(j+12)) & 0x10
			x0 := int32(xb[6+j]&0x0F|xh0) - 16
			x1 := int32(xb[6+j]>>4|xh1) - 16
			yb[j] = float32(x0) * d
			yb[j+qk/2] = float32(x1) * d
		}
	}
}

func quantizeQ5_1(x []float32, y []byte) {
	const bs = 4 + 4 + qk/2
	for i := 0; i < len(x)/qk; i++ {
		xb, yb := x[i*qk:(i+1)*qk], y[i*bs:(i+1)*bs]
		lo, hi := minMax(xb)
		d := float32(hi-lo) / ((1 << 5) - 1)
		id := inverse(d)
		le.PutUint16(yb, FP32ToFP16(d))
		le.PutUint16(yb[2:], FP32ToFP16(lo))
		var qh uint32
		for j := 0; j < qk/2; j++ {
			x0 := float32(xb[j]-lo) * id
			x1 := float32(xb[qk/2+j]-lo) * id
			xi0 := cUint8(x0 + 0.5)
			xi1 := cUint8(x1 + 0.5)
			yb[8+j] = xi0&0x0F | (xi1&0x0F)<<4
			qh |= uint32(xi0&0x10) >> 4 << j
			qh |= uint32(xi1&0x10) >> 4 << (j + qk/2)
		}
		le.PutUint32(yb[4:], qh)
	}
}

func dequantizeQ5_1(x []byte, y []float32) {
	const bs = 4 + 4 + qk/2
	for i := 0; i < len(y)/qk; i++ {
		xb, yb := x[i*bs:(i+1)*bs], y[i*qk:(i+1)*qk]
		d, m := fp16At(xb), fp16At(xb[2:])
		qh := le.Uint32(xb[4:])
		for j := 0; j < qk/2; j++ {
			xh0 := uint8(qh>>j<<4) & 0x10
			xh1 := uint8(qh>>(j+12)) & 0x10
			x0 := xb[8+j]&0x0F | xh0
			x1 := xb[8+j]>>4 | xh1
			yb[j] = float32(float32(x0)*d) + m
			yb[j+qk/2] = float32(float32(x1)*d) + m
		}
	}
}

// max32 is C's MAX(a, b): a > b ? a : b.
func max32(a, b float32) float32 {
	if a > b {
		return a
	}
	return b
}
