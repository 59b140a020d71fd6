package ollama_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/fastslow/fastslow/weights/gguf"
)

// Tiny GGUF files for these tests, written with the project's own codec:
// a llama model and LoRA adapters for it that Ollama's llama.cpp runner loads.

type ggufTensor struct {
	name string
	ne   []uint64 // ne[0] is the row length
	data []float32
}

type ggufKV struct {
	key string
	val any
}

func writeGGUF(t testing.TB, path string, kvs []ggufKV, tensors []ggufTensor) {
	t.Helper()
	w := gguf.NewWriter()
	for _, kv := range kvs {
		if err := w.Set(kv.key, kv.val); err != nil {
			t.Fatal(err)
		}
	}
	for _, ts := range tensors {
		if err := w.AddTensor(ts.name, gguf.TypeF32, ts.ne, ts.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
}

// tinyLlama describes the shape of the test model.
var tinyLlama = struct{ embd, ff, heads, kvHeads, layers int }{embd: 32, ff: 64, heads: 4, kvHeads: 2, layers: 1}

// tinyVocab is a SentencePiece-style vocabulary: specials, the 256 byte
// fallback tokens, and a few word pieces.
func tinyVocab() (tokens []string, scores []float32, types []int32) {
	add := func(s string, score float32, typ int32) {
		tokens = append(tokens, s)
		scores = append(scores, score)
		types = append(types, typ)
	}
	add("<unk>", 0, 2)
	add("<s>", 0, 3)
	add("</s>", 0, 3)
	for i := range 256 {
		add(fmt.Sprintf("<0x%02X>", i), 0, 6)
	}
	for i, p := range []string{"▁", "▁the", "▁a", "▁cat", "▁sat", "▁on", "▁mat", "e", "t", "a", "o", "n", "s", "h", "r", "d", "l", "c", "m"} {
		add(p, -float32(i), 1)
	}
	return tokens, scores, types
}

// writeTinyLlama writes a random F32 llama model with the given seed to
// dir/name and returns its path. Different seeds give different weights.
func writeTinyLlama(t testing.TB, dir, name string, seed uint64) string {
	t.Helper()
	return writeTinyLlamaFileType(t, dir, name, seed, 0)
}

// writeTinyLlamaFileType is writeTinyLlama with a given general.file_type:
// Ollama reads 0 (all F32) as "unknown" and refuses to quantize it, 1 (F16)
// lets it quantize the same F32 tensors.
func writeTinyLlamaFileType(t testing.TB, dir, name string, seed uint64, fileType uint32) string {
	t.Helper()
	m := tinyLlama
	tokens, scores, types := tinyVocab()
	vocab := len(tokens)
	headDim := m.embd / m.heads
	kvs := []ggufKV{
		{"general.architecture", "llama"},
		{"general.name", "fastslow-tiny-test"},
		{"general.file_type", fileType},
		{"llama.context_length", uint32(256)},
		{"llama.embedding_length", uint32(m.embd)},
		{"llama.block_count", uint32(m.layers)},
		{"llama.feed_forward_length", uint32(m.ff)},
		{"llama.attention.head_count", uint32(m.heads)},
		{"llama.attention.head_count_kv", uint32(m.kvHeads)},
		{"llama.rope.dimension_count", uint32(headDim)},
		{"llama.attention.layer_norm_rms_epsilon", float32(1e-5)},
		{"llama.vocab_size", uint32(vocab)},
		{"tokenizer.ggml.model", "llama"},
		{"tokenizer.ggml.tokens", tokens},
		{"tokenizer.ggml.scores", scores},
		{"tokenizer.ggml.token_type", types},
		{"tokenizer.ggml.unknown_token_id", uint32(0)},
		{"tokenizer.ggml.bos_token_id", uint32(1)},
		{"tokenizer.ggml.eos_token_id", uint32(2)},
		{"tokenizer.ggml.add_bos_token", true},
		{"tokenizer.ggml.add_eos_token", false},
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	randn := func(scale float64, ne ...uint64) []float32 {
		n := uint64(1)
		for _, d := range ne {
			n *= d
		}
		out := make([]float32, n)
		for i := range out {
			out[i] = float32(rng.NormFloat64() * scale)
		}
		return out
	}
	ones := func(n int) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = 1
		}
		return out
	}
	e, f, kvDim, v := uint64(m.embd), uint64(m.ff), uint64(m.kvHeads*headDim), uint64(vocab)
	scale := 1 / math.Sqrt(float64(m.embd))
	ts := []ggufTensor{
		{"token_embd.weight", []uint64{e, v}, randn(1, e, v)},
		{"output_norm.weight", []uint64{e}, ones(m.embd)},
		{"output.weight", []uint64{e, v}, randn(scale*4, e, v)},
	}
	for l := range m.layers {
		p := fmt.Sprintf("blk.%d.", l)
		ts = append(ts,
			ggufTensor{p + "attn_norm.weight", []uint64{e}, ones(m.embd)},
			ggufTensor{p + "attn_q.weight", []uint64{e, e}, randn(scale, e, e)},
			ggufTensor{p + "attn_k.weight", []uint64{e, kvDim}, randn(scale, e, kvDim)},
			ggufTensor{p + "attn_v.weight", []uint64{e, kvDim}, randn(scale, e, kvDim)},
			ggufTensor{p + "attn_output.weight", []uint64{e, e}, randn(scale, e, e)},
			ggufTensor{p + "ffn_norm.weight", []uint64{e}, ones(m.embd)},
			ggufTensor{p + "ffn_gate.weight", []uint64{e, f}, randn(scale, e, f)},
			ggufTensor{p + "ffn_up.weight", []uint64{e, f}, randn(scale, e, f)},
			ggufTensor{p + "ffn_down.weight", []uint64{f, e}, randn(1/math.Sqrt(float64(m.ff)), f, e)},
		)
	}
	path := filepath.Join(dir, name)
	writeGGUF(t, path, kvs, ts)
	return path
}

// writeTinyLoRA writes a rank-2 LoRA adapter for the tiny llama's attn_q and
// ffn_down of every layer. arch is the adapter's general.architecture (a
// mismatch with the base makes llama.cpp reject it); bScale scales lora_b
// (0 gives an adapter that changes nothing).
func writeTinyLoRA(t testing.TB, dir, name, arch string, seed uint64, bScale float64) string {
	t.Helper()
	m := tinyLlama
	const r = 2
	kvs := []ggufKV{
		{"general.architecture", arch},
		{"general.type", "adapter"},
		{"adapter.type", "lora"},
		{"adapter.lora.alpha", float32(r)},
	}
	rng := rand.New(rand.NewPCG(seed, 0xada))
	randn := func(scale float64, n uint64) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = float32(rng.NormFloat64() * scale)
		}
		return out
	}
	var ts []ggufTensor
	lora := func(base string, nIn, nOut uint64) {
		ts = append(ts,
			ggufTensor{base + ".lora_a", []uint64{nIn, r}, randn(1/math.Sqrt(float64(nIn)), nIn*r)},
			ggufTensor{base + ".lora_b", []uint64{r, nOut}, randn(bScale, r*nOut)},
		)
	}
	e, f := uint64(m.embd), uint64(m.ff)
	for l := range m.layers {
		lora(fmt.Sprintf("blk.%d.attn_q.weight", l), e, e)
		lora(fmt.Sprintf("blk.%d.ffn_down.weight", l), f, e)
	}
	path := filepath.Join(dir, name)
	writeGGUF(t, path, kvs, ts)
	return path
}
