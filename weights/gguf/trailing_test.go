package gguf

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestTrailingBytesRefused: a GGUF with bytes after its padded tensor data (issue 14: it passed the local
// check, was uploaded, and Ollama refused it) fails to parse with ErrFormat; padding up to the alignment,
// as ggml writes it, is accepted.
func TestTrailingBytesRefused(t *testing.T) {
	w := NewWriter()
	must(t, w.Set("general.architecture", "llama"))
	must(t, w.AddRawTensor("odd", TypeI8, []uint64{5}, []byte{1, 2, 3, 4, 5}))
	good := encode(t, w)
	if _, err := Read(bytes.NewReader(good), int64(len(good))); err != nil {
		t.Fatalf("the writer's own file: %v", err)
	}
	for _, extra := range [][]byte{{0}, []byte("garbage"), bytes.Repeat([]byte{0}, 32)} {
		b := append(append([]byte{}, good...), extra...)
		_, err := Read(bytes.NewReader(b), int64(len(b)))
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "follow the tensor data") {
			t.Errorf("%d trailing bytes: %v, want ErrFormat naming them", len(extra), err)
		}
	}
	// No tensors: nothing may follow the header's padding either.
	empty := NewWriter()
	must(t, empty.Set("general.architecture", "llama"))
	b := append(encode(t, empty), make([]byte, 64)...)
	if _, err := Read(bytes.NewReader(b), int64(len(b))); !errors.Is(err, ErrFormat) {
		t.Errorf("64 bytes after a tensorless header: %v, want ErrFormat", err)
	}
}
