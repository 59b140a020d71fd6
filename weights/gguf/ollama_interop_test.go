package gguf_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	ollamaggml "github.com/ollama/ollama/fs/ggml"

	"github.com/fastslow/fastslow/weights/gguf"
)

// These tests check our files against Ollama's own Go GGUF code
// (github.com/ollama/ollama/fs/ggml), which the Ollama server uses when it
// creates models and imports adapters.

func TestOllamaDecodesOurFile(t *testing.T) {
	w := gguf.NewWriter()
	set := func(k string, v any) {
		t.Helper()
		if err := w.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	set("general.architecture", "llama")
	set("general.type", "adapter")
	set("adapter.type", "lora")
	set("adapter.lora.alpha", float32(16))
	set("llama.embedding_length", uint32(256))
	set("llama.attention.head_count", uint32(4))
	set("llama.use_parallel_residual", true)
	set("tokenizer.ggml.tokens", []string{"<s>", "</s>", "a", "b"})
	set("tokenizer.ggml.scores", []float32{0, 0, -1, -2})
	set("tokenizer.ggml.token_type", []int32{3, 3, 1, 1})

	type tensor struct {
		name  string
		typ   gguf.Type
		shape []uint64
	}
	tensors := []tensor{
		{"blk.0.attn_q.weight.lora_a", gguf.TypeF32, []uint64{256, 8}},
		{"blk.0.attn_q.weight.lora_b", gguf.TypeF16, []uint64{8, 256}},
		{"blk.0.ffn_up.weight", gguf.TypeQ8_0, []uint64{256, 3}},
		{"blk.0.ffn_down.weight", gguf.TypeQ4_K, []uint64{256, 2}},
		{"output.weight", gguf.TypeQ6_K, []uint64{256, 1}},
		{"token_embd.weight", gguf.TypeBF16, []uint64{3, 5}},
	}
	for i, tt := range tensors {
		n := 1
		for _, d := range tt.shape {
			n *= int(d)
		}
		data := make([]float32, n)
		for j := range data {
			data[j] = float32((j*7+i)%13) - 6
		}
		if err := w.AddTensor(tt.name, tt.typ, tt.shape, data); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	ours, err := gguf.Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}

	g, err := ollamaggml.Decode(bytes.NewReader(buf.Bytes()), -1)
	if err != nil {
		t.Fatalf("Ollama cannot decode our file: %v", err)
	}
	kv := g.KV()
	if kv.Architecture() != "llama" || kv.Kind() != "adapter" {
		t.Errorf("architecture/kind = %q/%q", kv.Architecture(), kv.Kind())
	}
	// Ollama's accessors prefix keys outside general./tokenizer. with the
	// architecture, so read adapter keys from the map directly.
	if got := kv["adapter.lora.alpha"]; got != float32(16) {
		t.Errorf("adapter.lora.alpha = %#v", got)
	}
	if got := kv.EmbeddingLength(); got != 256 {
		t.Errorf("embedding_length = %d", got)
	}
	if got := kv.Bool("use_parallel_residual"); !got {
		t.Error("use_parallel_residual = false")
	}
	if got := kv.Strings("tokenizer.ggml.tokens"); !reflect.DeepEqual(got, []string{"<s>", "</s>", "a", "b"}) {
		t.Errorf("tokens = %v", got)
	}
	if got := kv.Floats("tokenizer.ggml.scores"); !reflect.DeepEqual(got, []float32{0, 0, -1, -2}) {
		t.Errorf("scores = %v", got)
	}
	if got := kv.Ints("tokenizer.ggml.token_type"); !reflect.DeepEqual(got, []int32{3, 3, 1, 1}) {
		t.Errorf("token_type = %v", got)
	}
	// Ollama adds general.parameter_count while decoding.
	for _, k := range ours.Meta.Keys() {
		if _, ok := kv[k]; !ok {
			t.Errorf("Ollama does not see key %q", k)
		}
	}

	ts := g.Tensors()
	if ts.Offset != uint64(ours.DataOffset) {
		t.Errorf("Ollama data offset %d, ours %d", ts.Offset, ours.DataOffset)
	}
	items := ts.Items()
	if len(items) != len(tensors) {
		t.Fatalf("Ollama sees %d tensors, want %d", len(items), len(tensors))
	}
	for i, it := range items {
		want := ours.Tensors[i]
		if it.Name != want.Name || it.Kind != uint32(want.Type) || it.Offset != want.Offset ||
			!reflect.DeepEqual(it.Shape, want.Shape) || it.Size() != want.Bytes() {
			t.Errorf("tensor %d: Ollama %s kind %d shape %v offset %d size %d; ours %s %s %v %d %d",
				i, it.Name, it.Kind, it.Shape, it.Offset, it.Size(),
				want.Name, want.Type, want.Shape, want.Offset, want.Bytes())
		}
	}
}

func TestWeReadOllamasFile(t *testing.T) {
	raw16, err := gguf.Quantize(gguf.TypeF16, []float32{1, 2, 3, 4, 5, 6})
	if err != nil {
		t.Fatal(err)
	}
	rawQ8 := make([]float32, 64)
	for i := range rawQ8 {
		rawQ8[i] = float32(i) / 10
	}
	q8, err := gguf.Quantize(gguf.TypeQ8_0, rawQ8)
	if err != nil {
		t.Fatal(err)
	}
	kv := ollamaggml.KV{
		"general.architecture":  "llama",
		"general.name":          "from-ollama",
		"llama.block_count":     uint32(1),
		"llama.rope.freq_base":  float32(10000),
		"tokenizer.ggml.tokens": []string{"x", "y"},
		"tokenizer.ggml.scores": []float32{0.5, -0.5},
	}
	ts := []*ollamaggml.Tensor{
		{Name: "blk.0.attn_k.weight", Kind: uint32(gguf.TypeF16), Shape: []uint64{3, 2}, WriterTo: bytes.NewReader(raw16)},
		{Name: "output.weight", Kind: uint32(gguf.TypeQ8_0), Shape: []uint64{32, 2}, WriterTo: bytes.NewReader(q8)},
	}
	path := filepath.Join(t.TempDir(), "ollama.gguf")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := ollamaggml.WriteGGUF(f, kv, ts); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	g, err := gguf.Open(path)
	if err != nil {
		t.Fatalf("cannot read Ollama's file: %v", err)
	}
	defer g.Close()
	if s, _ := g.Meta.String("general.name"); s != "from-ollama" {
		t.Errorf("general.name = %q", s)
	}
	if n, _ := g.Meta.Uint32("llama.block_count"); n != 1 {
		t.Errorf("block_count = %d", n)
	}
	if x, _ := g.Meta.Float32("llama.rope.freq_base"); x != 10000 {
		t.Errorf("freq_base = %v", x)
	}
	if toks, _ := g.Meta.Strings("tokenizer.ggml.tokens"); !reflect.DeepEqual(toks, []string{"x", "y"}) {
		t.Errorf("tokens = %v", toks)
	}
	got, err := g.Float32s("blk.0.attn_k.weight")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []float32{1, 2, 3, 4, 5, 6}) {
		t.Errorf("attn_k = %v", got)
	}
	rawGot, err := g.Raw("output.weight")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rawGot, q8) {
		t.Error("output.weight bytes differ")
	}
}
