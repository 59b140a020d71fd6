package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The golden files in testdata/ggml come from ggml's own C code (see
// testdata/ggml/gen.c): inputs quantized by quantize_row_*_ref and the
// results dequantized by dequantize_row_*. The Go port must match them bit
// for bit.

func readFloats(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func TestGoldenGGML(t *testing.T) {
	dir := filepath.Join("testdata", "ggml")
	input := readFloats(t, filepath.Join(dir, "input.bin"))
	for _, typ := range []Type{TypeF16, TypeBF16, TypeQ4_0, TypeQ4_1, TypeQ5_0, TypeQ5_1, TypeQ8_0,
		TypeQ2_K, TypeQ3_K, TypeQ4_K, TypeQ5_K, TypeQ6_K} {
		t.Run(typ.String(), func(t *testing.T) {
			wantQ, err := os.ReadFile(filepath.Join(dir, typ.String()+".q"))
			if err != nil {
				t.Fatal(err)
			}
			wantF := readFloats(t, filepath.Join(dir, typ.String()+".f32"))

			gotQ, err := Quantize(typ, input)
			if err != nil {
				t.Fatal(err)
			}
			bb := int(typ.BlockBytes())
			for off := 0; off < len(wantQ); off += bb {
				if string(gotQ[off:off+bb]) != string(wantQ[off:off+bb]) {
					blk := off / bb
					n := int(typ.BlockSize())
					t.Errorf("quantize: block %d (inputs %d..%d) differs:\n got %x\nwant %x",
						blk, blk*n, (blk+1)*n-1, gotQ[off:off+bb], wantQ[off:off+bb])
				}
			}

			gotF := make([]float32, len(input))
			if err := Dequantize(typ, wantQ, gotF); err != nil {
				t.Fatal(err)
			}
			bad := 0
			for i := range gotF {
				if math.Float32bits(gotF[i]) != math.Float32bits(wantF[i]) {
					if bad < 5 {
						t.Errorf("dequantize: element %d = %g (%#08x), want %g (%#08x)",
							i, gotF[i], math.Float32bits(gotF[i]), wantF[i], math.Float32bits(wantF[i]))
					}
					bad++
				}
			}
			if bad > 0 {
				t.Errorf("dequantize: %d of %d elements differ", bad, len(gotF))
			}
		})
	}
}

// requantInput rebuilds gen.c's requant_input: y (dequantized weights) plus
// a small update computed from integers, exact in float32.
func requantInput(y []float32) []float32 {
	r := make([]float32, len(y))
	for i := range y {
		b := i / 256
		h := uint32(i) * 2654435761
		k := int(h>>16%33) - 16
		var d float32
		if b%3 != 0 {
			d = float32(k) * float32(math.Ldexp(1, -12-2*(b%3)))
		}
		r[i] = y[i] + d
	}
	return r
}

// TestGoldenRequant re-quantizes dequantized weights plus a small update, as
// a merged deploy does to every adapted tensor of a quantized base: values on
// (or next to) the grid of the type, where rounding ties are common. The
// result must equal ggml's quantize_row_*_ref byte for byte.
func TestGoldenRequant(t *testing.T) {
	dir := filepath.Join("testdata", "ggml")
	for _, typ := range []Type{TypeF16, TypeBF16, TypeQ4_0, TypeQ4_1, TypeQ5_0, TypeQ5_1, TypeQ8_0,
		TypeQ2_K, TypeQ3_K, TypeQ4_K, TypeQ5_K, TypeQ6_K} {
		t.Run(typ.String(), func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(dir, typ.String()+".rq"))
			if err != nil {
				t.Fatal(err)
			}
			in := requantInput(readFloats(t, filepath.Join(dir, typ.String()+".f32")))
			got, err := Quantize(typ, in)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d bytes, ggml wrote %d", len(got), len(want))
			}
			bb := int(typ.BlockBytes())
			for off := 0; off < len(want); off += bb {
				if string(got[off:off+bb]) != string(want[off:off+bb]) {
					t.Errorf("block %d differs:\n got %x\nwant %x", off/bb, got[off:off+bb], want[off:off+bb])
				}
			}
		})
	}
}

// fnv64 is FNV-1a over the low n bytes of v, as in gen.c.
func fnv64(h uint64, v uint32, n int) uint64 {
	for i := 0; i < n; i++ {
		h ^= uint64(v>>(8*i)) & 0xff
		h *= 0x100000001b3
	}
	return h
}

const fnvOffset = 0xcbf29ce484222325

func TestGoldenHalfHashes(t *testing.T) {
	want := readHashes(t, filepath.Join("testdata", "ggml", "hashes.txt"))

	a, b := uint64(fnvOffset), uint64(fnvOffset)
	for i := 0; i < 1<<16; i++ {
		a = fnv64(a, math.Float32bits(FP16ToFP32(uint16(i))), 4)
		b = fnv64(b, math.Float32bits(BF16ToFP32(uint16(i))), 4)
	}
	check(t, "fp16_to_fp32", a, want)
	check(t, "bf16_to_fp32", b, want)

	lows := [8]uint32{0x000, 0x001, 0x7ff, 0x800, 0x801, 0xfff, 0x400, 0xc00}
	a, b = fnvOffset, fnvOffset
	for hi := uint32(0); hi < 1<<20; hi++ {
		for _, lo := range lows {
			f := math.Float32frombits(hi<<12 | lo)
			g := math.Float32frombits(hi<<12 | (lo << 1 & 0xfff) | hi&1)
			a = fnv64(a, uint32(FP32ToFP16(f)), 2)
			a = fnv64(a, uint32(FP32ToFP16(g)), 2)
			b = fnv64(b, uint32(FP32ToBF16(f)), 2)
			b = fnv64(b, uint32(FP32ToBF16(g)), 2)
		}
	}
	check(t, "fp32_to_fp16", a, want)
	check(t, "fp32_to_bf16", b, want)
}

func check(t *testing.T, name string, got uint64, want map[string]uint64) {
	t.Helper()
	w, ok := want[name]
	if !ok {
		t.Fatalf("hashes.txt has no %s", name)
	}
	if got != w {
		t.Errorf("%s: hash %016x, ggml %016x", name, got, w)
	}
}

func readHashes(t *testing.T, path string) map[string]uint64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := make(map[string]uint64)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, hex, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseUint(hex, 16, 64)
		if err != nil {
			t.Fatal(fmt.Errorf("%s: %w", path, err))
		}
		out[name] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestGoldenHalfExhaustive converts every float32 bit pattern. It takes
// about a minute, so it runs only when GGUF_EXHAUSTIVE is set.
func TestGoldenHalfExhaustive(t *testing.T) {
	if os.Getenv("GGUF_EXHAUSTIVE") == "" {
		t.Skip("set GGUF_EXHAUSTIVE=1 to check all 2^32 inputs")
	}
	want := readHashes(t, filepath.Join("testdata", "ggml", "hashes.txt"))
	a, b := uint64(fnvOffset), uint64(fnvOffset)
	for u := uint64(0); u < 1<<32; u++ {
		f := math.Float32frombits(uint32(u))
		a = fnv64(a, uint32(FP32ToFP16(f)), 2)
		b = fnv64(b, uint32(FP32ToBF16(f)), 2)
	}
	check(t, "fp32_to_fp16_all", a, want)
	check(t, "fp32_to_bf16_all", b, want)
}
