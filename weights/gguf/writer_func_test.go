package gguf

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestAddTensorFunc checks that a tensor filled at write time is written as AddRawTensor would write it, and
// that a fill function's error or wrong size fails the write.
func TestAddTensorFunc(t *testing.T) {
	raw := []byte{1, 2, 3, 4, 5}
	eager, lazy := NewWriter(), NewWriter()
	for _, w := range []*Writer{eager, lazy} {
		must(t, w.Set("general.architecture", "llama"))
		must(t, w.AddTensor("first", TypeF32, []uint64{3}, []float32{1, 2, 3}))
	}
	must(t, eager.AddRawTensor("odd", TypeI8, []uint64{5}, raw))
	must(t, eager.AddTensor("last", TypeF32, []uint64{2}, []float32{4, 5}))
	calls := 0
	must(t, lazy.AddTensorFunc("odd", TypeI8, []uint64{5}, func() ([]byte, error) { calls++; return raw, nil }))
	last, err := Quantize(TypeF32, []float32{4, 5})
	must(t, err)
	must(t, lazy.AddTensorFunc("last", TypeF32, []uint64{2}, func() ([]byte, error) { return last, nil }))
	if !bytes.Equal(encode(t, eager), encode(t, lazy)) || calls != 1 {
		t.Fatalf("lazy tensors written differently from raw ones (fill called %d times)", calls)
	}

	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		fill func() ([]byte, error)
		want string
	}{
		{"error", func() ([]byte, error) { return nil, boom }, "boom"},
		{"short", func() ([]byte, error) { return raw[:4], nil }, "fill returned 4"},
	} {
		w := NewWriter()
		must(t, w.AddTensorFunc("x", TypeI8, []uint64{5}, tc.fill))
		if _, err := w.WriteTo(io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: WriteTo error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	if err := NewWriter().AddTensorFunc("x", TypeI8, []uint64{5}, nil); err == nil {
		t.Error("nil fill accepted")
	}
}
