package gguf

import (
	"bytes"
	"fmt"
	"testing"
)

func BenchmarkReadVocab(b *testing.B) {
	w := NewWriter()
	tokens := make([]string, 128000)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("tok%d", i)
	}
	must(b, w.Set("tokenizer.ggml.tokens", tokens))
	must(b, w.Set("tokenizer.ggml.scores", make([]float32, len(tokens))))
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Read(bytes.NewReader(data), int64(len(data))); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDequantize(b *testing.B) {
	x := testData(1<<16, 1)
	for _, typ := range []Type{TypeF16, TypeQ8_0, TypeQ4_K, TypeQ6_K} {
		raw, err := Quantize(typ, x)
		if err != nil {
			b.Fatal(err)
		}
		y := make([]float32, len(x))
		b.Run(typ.String(), func(b *testing.B) {
			b.SetBytes(int64(4 * len(x)))
			for b.Loop() {
				if err := Dequantize(typ, raw, y); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
