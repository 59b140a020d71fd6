package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// FuzzRead feeds arbitrary bytes to Read. Read must never panic, every
// rejection must wrap ErrFormat, and an accepted file must have readable
// tensors and re-encode to a file that parses back to the same metadata
// (floats bit for bit) and tensors, and re-encodes to the same bytes.
// The seed corpus lives in testdata/fuzz/FuzzRead (regenerate with
// GGUF_WRITE_CORPUS=1 go test -run TestWriteFuzzCorpus).
func FuzzRead(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Read(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error does not wrap ErrFormat: %v", err)
			}
			return
		}
		for _, ti := range g.Tensors {
			raw, err := g.Raw(ti.Name)
			if err != nil {
				t.Fatalf("Raw(%q): %v", ti.Name, err)
			}
			if uint64(len(raw)) != ti.Bytes() {
				t.Fatalf("Raw(%q): %d bytes, want %d", ti.Name, len(raw), ti.Bytes())
			}
			if canDequantize(ti.Type) {
				if _, err := g.Float32s(ti.Name); err != nil {
					t.Fatalf("Float32s(%q): %v", ti.Name, err)
				}
			}
		}
		first, ok := reencode(t, g)
		if !ok {
			return
		}
		g2, err := Read(bytes.NewReader(first), int64(len(first)))
		if err != nil {
			t.Fatalf("re-encoded file does not parse: %v", err)
		}
		sameContent(t, g, g2)
		second, ok := reencode(t, g2)
		if !ok || !bytes.Equal(first, second) {
			t.Fatalf("re-encoding is not stable")
		}
	})
}

// sameContent fails unless b holds a's metadata, bit for bit (a NaN keeps its payload), and a's tensors
// with the same types, shapes and bytes.
func sameContent(t *testing.T, a, b *File) {
	t.Helper()
	akv, bkv := a.Meta.All(), b.Meta.All()
	if len(akv) != len(bkv) {
		t.Fatalf("re-encoding has %d metadata entries, want %d", len(bkv), len(akv))
	}
	for i, kv := range akv {
		if got, want := valueBits(bkv[i].Value), valueBits(kv.Value); bkv[i].Key != kv.Key || !reflect.DeepEqual(got, want) {
			t.Fatalf("metadata entry %d: re-encoded as %q = %#v, want %q = %#v (floats as bits)", i, bkv[i].Key, got, kv.Key, want)
		}
	}
	if len(a.Tensors) != len(b.Tensors) {
		t.Fatalf("re-encoding has %d tensors, want %d", len(b.Tensors), len(a.Tensors))
	}
	for i, ta := range a.Tensors {
		tb := b.Tensors[i]
		if tb.Name != ta.Name || tb.Type != ta.Type || !slices.Equal(tb.Shape, ta.Shape) {
			t.Fatalf("tensor %d: re-encoded as %q %s %v, want %q %s %v", i, tb.Name, tb.Type, tb.Shape, ta.Name, ta.Type, ta.Shape)
		}
		ra, _ := a.Raw(ta.Name)
		rb, err := b.Raw(tb.Name)
		if err != nil || !bytes.Equal(ra, rb) {
			t.Fatalf("tensor %q: re-encoded data differs (%v)", ta.Name, err)
		}
	}
}

// valueBits returns v with its floats replaced by their bits, so that equal NaNs compare equal.
func valueBits(v any) any {
	switch x := v.(type) {
	case float32:
		return math.Float32bits(x)
	case float64:
		return math.Float64bits(x)
	case []float32:
		out := make([]uint32, len(x))
		for i, f := range x {
			out[i] = math.Float32bits(f)
		}
		return out
	case []float64:
		out := make([]uint64, len(x))
		for i, f := range x {
			out[i] = math.Float64bits(f)
		}
		return out
	}
	return v
}

// reencode writes g through a Writer. It reports false when the Writer
// refuses the content (e.g. a tensor name ggml could not load), which the
// reader accepts on purpose.
func reencode(t *testing.T, g *File) ([]byte, bool) {
	w := NewWriter()
	for _, kv := range g.Meta.All() {
		if err := w.Set(kv.Key, kv.Value); err != nil {
			t.Fatalf("Set(%q) of a value read from a file: %v", kv.Key, err)
		}
	}
	for _, ti := range g.Tensors {
		raw, err := g.Raw(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddRawTensor(ti.Name, ti.Type, ti.Shape, raw); err != nil {
			return nil, false
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), true
}

// fuzzSeeds returns small valid files and damaged variants of them.
func fuzzSeeds(tb testing.TB) [][]byte {
	var seeds [][]byte
	add := func(w *Writer) []byte {
		var buf bytes.Buffer
		if _, err := w.WriteTo(&buf); err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, buf.Bytes())
		return buf.Bytes()
	}

	add(NewWriter())

	w := NewWriter()
	for _, kv := range allValues {
		must(tb, w.Set(kv.Key, kv.Value))
	}
	add(w)

	w = NewWriter()
	must(tb, w.Set("general.architecture", "llama"))
	must(tb, w.Set(KeyAlignment, uint32(8)))
	must(tb, w.AddTensor("f32", TypeF32, []uint64{3}, []float32{1, -2, 3}))
	must(tb, w.AddTensor("f16", TypeF16, []uint64{2, 2}, []float32{1, 2, 3, 4}))
	must(tb, w.AddTensor("bf16", TypeBF16, []uint64{1, 1, 1, 2}, []float32{5, 6}))
	model := add(w)

	for _, typ := range []Type{TypeQ4_0, TypeQ4_1, TypeQ5_0, TypeQ5_1, TypeQ8_0, TypeQ2_K, TypeQ3_K, TypeQ4_K, TypeQ5_K, TypeQ6_K} {
		w = NewWriter()
		n := int(typ.BlockSize())
		must(tb, w.AddTensor("q", typ, []uint64{uint64(n)}, testData(n, uint64(typ))))
		add(w)
	}

	// Truncations of the model at interesting points.
	for _, n := range []int{0, 3, 4, 8, 16, 24, 30, 40, 60, len(model) / 2, len(model) - 1} {
		if n <= len(model) {
			seeds = append(seeds, model[:n])
		}
	}
	// Corrupted headers: version, counts, a length, a type.
	corrupt := func(off int, b ...byte) {
		c := bytes.Clone(model)
		copy(c[off:], b)
		seeds = append(seeds, c)
	}
	corrupt(0, 'G', 'G', 'U', 'X')
	corrupt(4, 1)
	corrupt(4, 0, 0, 0, 3)
	corrupt(8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)
	corrupt(16, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	corrupt(24, 0xff, 0xff, 0xff, 0xff)
	corrupt(len(model)/3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)

	// Values a reader must carry through untouched: NaN (signalling and quiet), infinities and -0 in
	// float metadata and tensor data, strings that are not UTF-8, an empty key, a NUL in a key.
	w = NewWriter()
	snan32, snan64 := math.Float32frombits(0x7f800001), math.Float64frombits(0x7ff0000000000001)
	must(tb, w.Set("f32.nan", snan32))
	must(tb, w.Set("f64.inf", math.Inf(-1)))
	must(tb, w.Set("f64.nan", snan64))
	must(tb, w.Set("f32.arr", []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Copysign(0, -1))}))
	must(tb, w.Set("f64.arr", []float64{snan64, math.Inf(1), math.MaxFloat64}))
	must(tb, w.Set("bad.utf8", "\xff\xc0\x80\xed\xa0\x80"))
	must(tb, w.Set("strs", []string{"", "\x00", "\xf4\x90\x80\x80"}))
	must(tb, w.Set("", "empty key"))
	must(tb, w.Set("k\x00ey", true))
	le := binary.LittleEndian
	must(tb, w.AddRawTensor("f16", TypeF16, []uint64{4}, le.AppendUint16(le.AppendUint16(le.AppendUint16(
		le.AppendUint16(nil, 0x7e00), 0xfc00), 0x7c01), 0x8000)))
	must(tb, w.AddRawTensor("f32", TypeF32, []uint64{2}, le.AppendUint32(le.AppendUint32(nil, 0x7f800001), 0xff800000)))
	must(tb, w.AddRawTensor("bf16", TypeBF16, []uint64{2}, le.AppendUint16(le.AppendUint16(nil, 0x7f81), 0xff80)))
	q8 := make([]byte, TypeQ8_0.BlockBytes())
	le.PutUint16(q8, 0x7c00) // an infinite scale
	q8[2] = 1
	must(tb, w.AddRawTensor("q8", TypeQ8_0, []uint64{32}, q8))
	add(w)
	return seeds
}

// TestWriteFuzzCorpus regenerates testdata/fuzz/FuzzRead from fuzzSeeds.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("GGUF_WRITE_CORPUS") == "" {
		t.Skip("set GGUF_WRITE_CORPUS=1 to rewrite the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzRead")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range fuzzSeeds(t) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
