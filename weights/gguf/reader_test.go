package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
)

// builder assembles GGUF bytes by hand, including malformed ones.
type builder struct{ bytes.Buffer }

func (b *builder) u32(v uint32) *builder {
	binary.Write(&b.Buffer, binary.LittleEndian, v)
	return b
}

func (b *builder) u64(v uint64) *builder {
	binary.Write(&b.Buffer, binary.LittleEndian, v)
	return b
}

func (b *builder) str(s string) *builder {
	b.u64(uint64(len(s)))
	b.WriteString(s)
	return b
}

// header writes magic, version and the two counts.
func header(version uint32, nTensors, nKV uint64) *builder {
	b := &builder{}
	b.WriteString("GGUF")
	return b.u32(version).u64(nTensors).u64(nKV)
}

// tensor writes one tensor info.
func (b *builder) tensor(name string, typ Type, off uint64, shape ...uint64) *builder {
	b.str(name).u32(uint32(len(shape)))
	for _, d := range shape {
		b.u64(d)
	}
	return b.u32(uint32(typ)).u64(off)
}

// data pads to 32 bytes and appends n bytes of tensor data.
func (b *builder) data(n int) *builder {
	for b.Len()%32 != 0 {
		b.WriteByte(0)
	}
	b.Write(make([]byte, n))
	return b
}

func TestReadValidHandBuilt(t *testing.T) {
	for _, v := range []uint32{2, 3} {
		b := header(v, 2, 1).str("k").u32(gtString).str("v").
			tensor("a", TypeF32, 0, 2).
			tensor("b", TypeQ8_0, 32, 32, 2).
			data(32 + 68)
		f, err := Read(bytes.NewReader(b.Bytes()), int64(b.Len()))
		if err != nil {
			t.Fatalf("version %d: %v", v, err)
		}
		if f.Version != v || len(f.Tensors) != 2 || f.DataOffset%32 != 0 {
			t.Errorf("version %d: got %+v", v, f)
		}
	}
	// No tensors: the padded data offset may lie past the end of the file.
	b := header(3, 0, 1).str("k").u32(gtUint8)
	b.WriteByte(7)
	if _, err := Read(bytes.NewReader(b.Bytes()), int64(b.Len())); err != nil {
		t.Errorf("file without tensors or padding: %v", err)
	}
}

func TestReadRejects(t *testing.T) {
	tests := []struct {
		name string
		b    *builder
		want string // substring of the error
	}{
		{"empty", &builder{}, "magic"},
		{"bad magic", func() *builder { b := &builder{}; b.WriteString("GGUX"); return b.u32(3) }(), "bad magic"},
		{"version 1", header(1, 0, 0), "version 1"},
		{"version 4", header(4, 0, 0), "unsupported GGUF version 4"},
		{"big endian", header(3<<24, 0, 0), "big-endian"},
		{"no counts", func() *builder { b := &builder{}; b.WriteString("GGUF"); return b.u32(3) }(), "tensor count"},
		{"huge kv count", header(3, 0, 1<<62), "metadata count"},
		{"kv count beyond data", header(3, 0, 2).str("k").u32(gtUint8), "metadata count"},
		{"huge tensor count", header(3, math.MaxUint64, 0), "tensor count"},
		{"key length beyond file", header(3, 0, 1).u64(1 << 40).u64(0).u64(0), "exceeds"},
		{"duplicate key", func() *builder {
			b := header(3, 0, 2).str("k").u32(gtUint8)
			b.WriteByte(1)
			b.str("k").u32(gtUint8)
			b.WriteByte(2)
			return b
		}(), `duplicate metadata key "k"`},
		{"unknown value type", header(3, 0, 1).str("k").u32(13).u64(0), `key "k"`},
		{"nested array", header(3, 0, 1).str("k").u32(gtArray).u32(gtArray).u64(1).u64(0), "nested"},
		{"unknown element type", header(3, 0, 1).str("k").u32(gtArray).u32(99).u64(0).u64(0), "unknown array element type"},
		{"array too long", header(3, 0, 1).str("k").u32(gtArray).u32(gtUint32).u64(1 << 61), "exceed"},
		{"string array too long", header(3, 0, 1).str("k").u32(gtArray).u32(gtString).u64(1 << 40), "cannot fit"},
		{"string in array too long", header(3, 0, 1).str("k").u32(gtArray).u32(gtString).u64(1).u64(100).u64(0), "exceeds"},
		{"truncated value", header(3, 0, 1).str("k").u32(gtUint64).u32(0), "unexpected EOF"},
		{"alignment type", header(3, 0, 1).str(KeyAlignment).u32(gtUint64).u64(32), "want uint32"},
		{"alignment zero", header(3, 0, 1).str(KeyAlignment).u32(gtUint32).u32(0), "power of two"},
		{"alignment 48", header(3, 0, 1).str(KeyAlignment).u32(gtUint32).u32(48), "power of two"},
		{"five dims", header(3, 1, 0).tensor("t", TypeF32, 0, 1, 1, 1, 1, 1).data(4), "5 dimensions"},
		{"zero dims", header(3, 1, 0).tensor("t", TypeF32, 0).data(4), "0 dimensions"},
		{"zero dim", header(3, 1, 0).tensor("t", TypeF32, 0, 4, 0).data(4), "dimension 1 is zero"},
		{"element overflow", header(3, 1, 0).tensor("t", TypeF32, 0, 1<<32, 1<<32).data(4), "overflows"},
		{"byte overflow", header(3, 1, 0).tensor("t", TypeF64, 0, 1<<31, 1<<31).data(4), "byte size overflows"},
		// A row of 2^62+1 F32 values takes 2^64+4 bytes: without its own check it wrapped around to 4.
		{"row byte overflow F32", header(3, 1, 0).tensor("t", TypeF32, 0, 1<<62+1).data(4), "byte size of a row overflows"},
		{"row byte overflow F64", header(3, 1, 0).tensor("t", TypeF64, 0, 1<<61).data(0), "byte size of a row overflows"},
		{"removed type", header(3, 1, 0).tensor("t", Type(4), 0, 32).data(32), "unknown tensor type 4"},
		{"unknown type", header(3, 1, 0).tensor("t", Type(1000), 0, 32).data(32), "unknown tensor type 1000"},
		{"partial block", header(3, 1, 0).tensor("t", TypeQ8_0, 0, 16).data(34), "not a multiple"},
		{"misaligned", header(3, 2, 0).tensor("a", TypeF32, 0, 1).tensor("b", TypeF32, 4, 1).data(64), "not a multiple of the alignment"},
		{"past end", header(3, 1, 0).tensor("t", TypeF32, 0, 100).data(396), "past the end"},
		{"offset past end", header(3, 1, 0).tensor("t", TypeF32, 1<<62, 1).data(4), "past the end"},
		{"offset overflow", header(3, 1, 0).tensor("t", TypeF32, math.MaxUint64-31, 16).data(64), "past the end"},
		{"overlap", header(3, 2, 0).tensor("a", TypeF32, 0, 16).tensor("b", TypeF32, 32, 16).data(96), "overlaps"},
		{"overlap reversed", header(3, 2, 0).tensor("a", TypeF32, 32, 16).tensor("b", TypeF32, 0, 16).data(96), "overlaps"},
		{"same offset", header(3, 2, 0).tensor("a", TypeF32, 0, 1).tensor("b", TypeF32, 0, 1).data(32), "overlaps"},
		{"duplicate tensor", header(3, 2, 0).tensor("a", TypeF32, 0, 1).tensor("a", TypeF32, 32, 1).data(64), `duplicate tensor name "a"`},
		{"truncated tensor info", header(3, 1, 0).str("a-long-enough-tensor-name").u32(2).u64(4), "dimension 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.b.Bytes()
			f, err := Read(bytes.NewReader(data), int64(len(data)))
			if err == nil {
				t.Fatalf("Read succeeded: %+v", f)
			}
			if !errors.Is(err, ErrFormat) {
				t.Errorf("error does not wrap ErrFormat: %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// TestReadTruncated cuts a valid file at every length: every cut that
// loses header or tensor bytes must fail cleanly; cuts that lose only the
// final padding still parse.
func TestReadTruncated(t *testing.T) {
	w := NewWriter()
	must(t, w.Set("general.architecture", "llama"))
	must(t, w.Set("tokenizer.ggml.tokens", []string{"a", "bb", "ccc"}))
	must(t, w.Set("scores", []float32{1, 2, 3}))
	must(t, w.AddTensor("x", TypeF16, []uint64{3}, []float32{1, 2, 3}))
	must(t, w.AddTensor("y", TypeQ8_0, []uint64{32}, make([]float32, 32)))
	full := encode(t, w)
	f := decode(t, full)
	last := f.Tensors[len(f.Tensors)-1]
	end := f.DataOffset + int64(last.Offset+last.Bytes())
	for n := 0; n < len(full); n++ {
		_, err := Read(bytes.NewReader(full[:n]), int64(n))
		if int64(n) < end && err == nil {
			t.Fatalf("prefix of %d bytes (data ends at %d) parsed", n, end)
		}
		if int64(n) >= end && err != nil {
			t.Fatalf("prefix of %d bytes (data ends at %d): %v", n, end, err)
		}
	}
	// A reader shorter than the size it claims reports an error too.
	_, err := Read(bytes.NewReader(full[:40]), int64(len(full)))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short reader: err = %v, want unexpected EOF", err)
	}
	if _, err := Read(bytes.NewReader(full), -1); err == nil {
		t.Error("negative size accepted")
	}
}

func TestRawShortReader(t *testing.T) {
	w := NewWriter()
	must(t, w.AddTensor("x", TypeF32, []uint64{64}, make([]float32, 64)))
	full := encode(t, w)
	// Claim the full size but serve only the header: the data read fails.
	f, err := Read(bytes.NewReader(full[:len(full)-8]), int64(len(full)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Raw("x"); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Raw on short reader: err = %v", err)
	}
	if _, err := f.Float32s("x"); err == nil {
		t.Error("Float32s on short reader succeeded")
	}
}
