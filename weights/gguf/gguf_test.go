package gguf

import (
	"bytes"
	"errors"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// allValues holds one metadata value of every supported type.
var allValues = []KV{
	{"u8", uint8(200)},
	{"i8", int8(-100)},
	{"u16", uint16(60000)},
	{"i16", int16(-30000)},
	{"u32", uint32(4000000000)},
	{"i32", int32(-2000000000)},
	{"u64", uint64(1) << 63},
	{"i64", int64(math.MinInt64)},
	{"f32", float32(3.25)},
	{"f64", math.Pi},
	{"bool.true", true},
	{"bool.false", false},
	{"str", "héllo\x00world"},
	{"str.empty", ""},
	{"arr.u8", []uint8{0, 1, 255}},
	{"arr.i8", []int8{-128, 0, 127}},
	{"arr.u16", []uint16{0, 65535}},
	{"arr.i16", []int16{-32768, 32767}},
	{"arr.u32", []uint32{0, math.MaxUint32}},
	{"arr.i32", []int32{math.MinInt32, -1, math.MaxInt32}},
	{"arr.u64", []uint64{0, math.MaxUint64}},
	{"arr.i64", []int64{math.MinInt64, math.MaxInt64}},
	{"arr.f32", []float32{-1.5, 0, float32(math.Inf(1))}},
	{"arr.f64", []float64{math.SmallestNonzeroFloat64, -2}},
	{"arr.bool", []bool{true, false, true}},
	{"arr.str", []string{"a", "", "ccc"}},
	{"arr.str.empty", []string{}},
	{"arr.f32.empty", []float32{}},
}

func encode(t testing.TB, w *Writer) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := w.WriteTo(&buf)
	if err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo returned %d, wrote %d", n, buf.Len())
	}
	return buf.Bytes()
}

func decode(t testing.TB, b []byte) *File {
	t.Helper()
	f, err := Read(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return f
}

func TestMetadataRoundTrip(t *testing.T) {
	w := NewWriter()
	for _, kv := range allValues {
		if err := w.Set(kv.Key, kv.Value); err != nil {
			t.Fatalf("Set(%q): %v", kv.Key, err)
		}
	}
	f := decode(t, encode(t, w))
	if f.Version != Version {
		t.Errorf("Version = %d, want %d", f.Version, Version)
	}
	if f.Alignment != DefaultAlignment {
		t.Errorf("Alignment = %d, want %d", f.Alignment, DefaultAlignment)
	}
	var wantKeys []string
	for _, kv := range allValues {
		wantKeys = append(wantKeys, kv.Key)
		got, ok := f.Meta.Get(kv.Key)
		if !ok {
			t.Errorf("key %q missing", kv.Key)
			continue
		}
		if !reflect.DeepEqual(got, kv.Value) {
			t.Errorf("key %q = %#v (%T), want %#v (%T)", kv.Key, got, got, kv.Value, kv.Value)
		}
	}
	if got := f.Meta.Keys(); !reflect.DeepEqual(got, wantKeys) {
		t.Errorf("Keys() = %v, want %v", got, wantKeys)
	}
}

func TestWriterSet(t *testing.T) {
	w := NewWriter()
	must(t, w.Set("a", uint32(1)))
	must(t, w.Set("b", "x"))
	must(t, w.Set("a", "replaced"))
	if got := w.Meta().Keys(); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("keys after re-Set = %v", got)
	}
	if v, _ := w.Meta().Get("a"); v != "replaced" {
		t.Errorf("a = %v, want replaced", v)
	}
	s := []int32{1, 2}
	must(t, w.Set("s", s))
	s[0] = 99
	if v, _ := w.Meta().Get("s"); v.([]int32)[0] != 1 {
		t.Error("Set did not copy the slice")
	}
	if !w.Delete("b") || w.Delete("b") {
		t.Error("Delete reported wrong presence")
	}
	if got := w.Meta().Keys(); !reflect.DeepEqual(got, []string{"a", "s"}) {
		t.Errorf("keys after Delete = %v", got)
	}
	if v, _ := w.Meta().Get("s"); v == nil {
		t.Error("index not updated after Delete")
	}

	bad := []struct {
		key string
		v   any
	}{
		{"int", 1},
		{"uint", uint(1)},
		{"nil", nil},
		{"map", map[string]int{}},
		{"nested", [][]int32{{1}}},
		{"ints", []int{1}},
		{KeyAlignment, uint64(32)},
		{KeyAlignment, uint32(0)},
		{KeyAlignment, uint32(48)},
	}
	for _, b := range bad {
		if err := w.Set(b.key, b.v); err == nil {
			t.Errorf("Set(%q, %T) succeeded", b.key, b.v)
		}
	}
}

func TestMetadataAccessors(t *testing.T) {
	w := NewWriter()
	for _, kv := range allValues {
		must(t, w.Set(kv.Key, kv.Value))
	}
	must(t, w.Set("small.u64", uint64(7)))
	must(t, w.Set("neg.i8", int8(-1)))
	must(t, w.Set("arr.i64.small", []int64{-5, 6}))
	m := decode(t, encode(t, w)).Meta

	ok := func(name string, got, want any, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", name, err)
		} else if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", name, got, want)
		}
	}
	s, err := m.String("str")
	ok("String", s, "héllo\x00world", err)
	b, err := m.Bool("bool.true")
	ok("Bool", b, true, err)
	u32, err := m.Uint32("u8")
	ok("Uint32(u8)", u32, uint32(200), err)
	u32, err = m.Uint32("small.u64")
	ok("Uint32(u64)", u32, uint32(7), err)
	u32, err = m.Uint32("u32")
	ok("Uint32(u32)", u32, uint32(4000000000), err)
	n, err := m.Int("i32")
	ok("Int(i32)", n, -2000000000, err)
	n, err = m.Int("neg.i8")
	ok("Int(i8)", n, -1, err)
	u64, err := m.Uint64("u64")
	ok("Uint64", u64, uint64(1)<<63, err)
	i64, err := m.Int64("i64")
	ok("Int64", i64, int64(math.MinInt64), err)
	f32, err := m.Float32("f64")
	ok("Float32(f64)", f32, float32(math.Pi), err)
	f32, err = m.Float32("f32")
	ok("Float32", f32, float32(3.25), err)
	f64, err := m.Float64("f32")
	ok("Float64(f32)", f64, 3.25, err)
	ss, err := m.Strings("arr.str")
	ok("Strings", ss, []string{"a", "", "ccc"}, err)
	is, err := m.Int32s("arr.i32")
	ok("Int32s", is, []int32{math.MinInt32, -1, math.MaxInt32}, err)
	is, err = m.Int32s("arr.u8")
	ok("Int32s(u8)", is, []int32{0, 1, 255}, err)
	is, err = m.Int32s("arr.i64.small")
	ok("Int32s(i64)", is, []int32{-5, 6}, err)
	fs, err := m.Float32s("arr.f64")
	ok("Float32s(f64)", fs, []float32{float32(math.SmallestNonzeroFloat64), -2}, err)

	fails := []struct {
		name string
		err  error
		want error
	}{
		{"String(missing)", second(m.String("nope")), ErrKeyNotFound},
		{"String(u8)", second(m.String("u8")), ErrWrongType},
		{"Uint32(neg)", second(m.Uint32("neg.i8")), ErrWrongType},
		{"Uint32(u64 big)", second(m.Uint32("u64")), ErrWrongType},
		{"Uint32(f32)", second(m.Uint32("f32")), ErrWrongType},
		{"Uint64(neg)", second(m.Uint64("i64")), ErrWrongType},
		{"Int(u64 big)", second(m.Int("u64")), ErrWrongType},
		{"Int64(u64 big)", second(m.Int64("u64")), ErrWrongType},
		{"Float32(str)", second(m.Float32("str")), ErrWrongType},
		{"Bool(u8)", second(m.Bool("u8")), ErrWrongType},
		{"Strings(i32s)", second(m.Strings("arr.i32")), ErrWrongType},
		{"Int32s(u32 big)", second(m.Int32s("arr.u32")), ErrWrongType},
		{"Int32s(u64 big)", second(m.Int32s("arr.u64")), ErrWrongType},
		{"Int32s(str)", second(m.Int32s("str")), ErrWrongType},
		{"Float32s(i32)", second(m.Float32s("arr.i32")), ErrWrongType},
	}
	for _, f := range fails {
		if !errors.Is(f.err, f.want) {
			t.Errorf("%s: err = %v, want %v", f.name, f.err, f.want)
		}
	}
	// Errors name the key and the type found.
	_, err = m.String("u8")
	if got := err.Error(); !bytes.Contains([]byte(got), []byte(`"u8"`)) || !bytes.Contains([]byte(got), []byte("uint8")) {
		t.Errorf("error %q does not name key and type", got)
	}
}

func second[T any](_ T, err error) error { return err }

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// testData returns n deterministic values with a spread of magnitudes and
// signs, including exact zeros.
func testData(n int, seed uint64) []float32 {
	out := make([]float32, n)
	s := seed*0x9E3779B97F4A7C15 + 1
	for i := range out {
		s ^= s << 13
		s ^= s >> 7
		s ^= s << 17
		u := float64(s>>11) / (1 << 53)
		v := (u*2 - 1) * math.Exp((float64(s%7) - 3))
		if s%31 == 0 {
			v = 0
		}
		out[i] = float32(v)
	}
	return out
}

func TestTensorRoundTrip(t *testing.T) {
	types := []Type{TypeF32, TypeF16, TypeBF16, TypeQ8_0, TypeQ4_0, TypeQ4_1, TypeQ5_0, TypeQ5_1,
		TypeQ2_K, TypeQ3_K, TypeQ4_K, TypeQ5_K, TypeQ6_K}
	// Row lengths in units of 256 so every block size divides them.
	shapes := [][]uint64{{256}, {512, 3}, {256, 2, 2}, {256, 1, 1, 3}}
	w := NewWriter()
	must(t, w.Set("general.architecture", "llama"))
	type added struct {
		name  string
		typ   Type
		shape []uint64
		data  []float32
	}
	var all []added
	for i, typ := range types {
		for j, shape := range shapes {
			n := 1
			for _, d := range shape {
				n *= int(d)
			}
			a := added{typ.String() + "." + string(rune('a'+j)), typ, shape, testData(n, uint64(i*10+j))}
			must(t, w.AddTensor(a.name, a.typ, a.shape, a.data))
			all = append(all, a)
		}
	}
	// An odd-sized raw tensor forces padding between tensors.
	must(t, w.AddRawTensor("raw.i8", TypeI8, []uint64{5}, []byte{1, 2, 3, 4, 5}))
	must(t, w.AddTensor("after.raw", TypeF32, []uint64{2}, []float32{1, 2}))

	b := encode(t, w)
	f := decode(t, b)
	if len(f.Tensors) != len(all)+2 {
		t.Fatalf("got %d tensors, want %d", len(f.Tensors), len(all)+2)
	}
	for _, a := range all {
		ti, ok := f.Tensor(a.name)
		if !ok {
			t.Fatalf("tensor %q missing", a.name)
		}
		if ti.Type != a.typ || !reflect.DeepEqual(ti.Shape, a.shape) {
			t.Errorf("%s: got %s %v, want %s %v", a.name, ti.Type, ti.Shape, a.typ, a.shape)
		}
		if ti.Offset%f.Alignment != 0 || (f.DataOffset+int64(ti.Offset))%int64(f.Alignment) != 0 {
			t.Errorf("%s: offset %d not aligned", a.name, ti.Offset)
		}
		wantRaw, err := Quantize(a.typ, a.data)
		must(t, err)
		raw, err := f.Raw(a.name)
		must(t, err)
		if !bytes.Equal(raw, wantRaw) {
			t.Errorf("%s: raw data differs", a.name)
		}
		got, err := f.Float32s(a.name)
		must(t, err)
		want := make([]float32, len(a.data))
		must(t, Dequantize(a.typ, wantRaw, want))
		if !sameBits(got, want) {
			t.Errorf("%s: Float32s differs from Dequantize", a.name)
		}
		if a.typ == TypeF32 && !sameBits(got, a.data) {
			t.Errorf("%s: F32 data not preserved", a.name)
		}
		// Every format must approximate the input; the bound is loose and
		// only catches layout mistakes (quantization error per type is
		// tested separately).
		if e := maxRelErr(got, a.data); e > 0.35 {
			t.Errorf("%s: relative error %g", a.name, e)
		}
	}
	raw, err := f.Raw("raw.i8")
	must(t, err)
	if !bytes.Equal(raw, []byte{1, 2, 3, 4, 5}) {
		t.Errorf("raw.i8 = %v", raw)
	}
	if _, err := f.Float32s("raw.i8"); err == nil {
		t.Error("Float32s of an I8 tensor succeeded")
	}
	got, err := f.Float32s("after.raw")
	must(t, err)
	if !reflect.DeepEqual(got, []float32{1, 2}) {
		t.Errorf("after.raw = %v", got)
	}
	if _, err := f.Float32s("missing"); err == nil {
		t.Error("Float32s of a missing tensor succeeded")
	}
}

// sameBits reports whether a and b hold the same float32 values bit for bit (NaNs and signed zeros too).
func sameBits(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}

// maxRelErr returns the largest error relative to the largest magnitude in
// want.
func maxRelErr(got, want []float32) float64 {
	var amax, emax float64
	for i := range want {
		amax = math.Max(amax, math.Abs(float64(want[i])))
		emax = math.Max(emax, math.Abs(float64(got[i]-want[i])))
	}
	if amax == 0 {
		return emax
	}
	return emax / amax
}

func TestAlignment(t *testing.T) {
	for _, a := range []uint32{1, 8, 64, 4096} {
		w := NewWriter()
		must(t, w.Set(KeyAlignment, a))
		must(t, w.AddTensor("x", TypeF16, []uint64{3}, []float32{1, 2, 3}))
		must(t, w.AddTensor("y", TypeF32, []uint64{1}, []float32{4}))
		b := encode(t, w)
		f := decode(t, b)
		if f.Alignment != uint64(a) {
			t.Errorf("alignment %d: read %d", a, f.Alignment)
		}
		for _, ti := range f.Tensors {
			if (f.DataOffset+int64(ti.Offset))%int64(a) != 0 {
				t.Errorf("alignment %d: tensor %s at %d", a, ti.Name, f.DataOffset+int64(ti.Offset))
			}
		}
		if len(b)%int(a) != 0 {
			t.Errorf("alignment %d: file size %d not padded", a, len(b))
		}
		if y, _ := f.Float32s("y"); len(y) != 1 || y[0] != 4 {
			t.Errorf("alignment %d: y = %v", a, y)
		}
	}
	w := NewWriter()
	must(t, w.AddTensor("x", TypeF32, []uint64{1}, []float32{1}))
	if err := w.Set(KeyAlignment, uint32(64)); err == nil {
		t.Error("changing alignment after adding tensors succeeded")
	}
}

func TestAddTensorErrors(t *testing.T) {
	w := NewWriter()
	must(t, w.AddTensor("dup", TypeF32, []uint64{1}, []float32{1}))
	long := string(bytes.Repeat([]byte("n"), 64))
	tests := []struct {
		name  string
		tname string
		typ   Type
		shape []uint64
		n     int
	}{
		{"empty name", "", TypeF32, []uint64{1}, 1},
		{"long name", long, TypeF32, []uint64{1}, 1},
		{"duplicate", "dup", TypeF32, []uint64{1}, 1},
		{"unknown type", "t", Type(4), []uint64{1}, 1},
		{"no dims", "t", TypeF32, nil, 0},
		{"five dims", "t", TypeF32, []uint64{1, 1, 1, 1, 1}, 1},
		{"zero dim", "t", TypeF32, []uint64{2, 0}, 0},
		{"overflow", "t", TypeF32, []uint64{1 << 32, 1 << 32}, 0},
		{"bad count", "t", TypeF32, []uint64{2, 2}, 3},
		{"partial block", "t", TypeQ8_0, []uint64{16, 2}, 32},
		{"unsupported quantizer", "t", TypeIQ2_XXS, []uint64{256}, 256},
	}
	for _, tt := range tests {
		if err := w.AddTensor(tt.tname, tt.typ, tt.shape, make([]float32, tt.n)); err == nil {
			t.Errorf("%s: AddTensor succeeded", tt.name)
		}
	}
	if err := w.AddRawTensor("r", TypeQ8_0, []uint64{32}, make([]byte, 33)); err == nil {
		t.Error("AddRawTensor with wrong size succeeded")
	}
	// 2^62+1 F32 values take 2^64+4 bytes, which wrapped around to 4.
	if err := w.AddRawTensor("r1", TypeF32, []uint64{1<<62 + 1}, make([]byte, 4)); err == nil {
		t.Error("AddRawTensor with a byte size that overflows succeeded")
	}
	if err := w.AddRawTensor("r2", TypeF64, []uint64{2, 1 << 60}, nil); err == nil {
		t.Error("AddRawTensor with a byte size that overflows succeeded")
	}
	if err := w.AddTensor("nan", TypeQ8_0, []uint64{32}, append([]float32{float32(math.NaN())}, make([]float32, 31)...)); err == nil {
		t.Error("quantizing NaN succeeded")
	}
	if got := len(w.Tensors()); got != 1 {
		t.Errorf("failed adds left %d tensors", got)
	}
}

func TestWriteFileOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.gguf")
	w := NewWriter()
	must(t, w.Set("general.name", "tiny"))
	must(t, w.AddTensor("w", TypeF16, []uint64{2, 2}, []float32{1, -2, 0.5, 65504}))
	must(t, w.WriteFile(path))
	f, err := Open(path)
	must(t, err)
	defer f.Close()
	got, err := f.Float32s("w")
	must(t, err)
	if !reflect.DeepEqual(got, []float32{1, -2, 0.5, 65504}) {
		t.Errorf("w = %v", got)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.gguf")); err == nil {
		t.Error("Open of a missing file succeeded")
	}
}
