package parity_test

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
)

// quantShape fills K-quant blocks: llama.cpp quantizes a matrix to a K-quant only when its rows hold a
// multiple of 256 values, and falls back to other types otherwise.
var quantShape = llama.Config{Dim: 256, Hidden: 512, Layers: 2, Heads: 4, KVHeads: 2, ContextLength: 256,
	RopeBase: 10000, NormEps: 1e-5}

// quantized is a base quantized by Ollama (or written quantized by us), as the server stores it.
type quantized struct {
	served
	m    *weights.Model
	main gguf.Type // the type of most matrices
}

// newQuantizeTypes are the only types `create` quantizes to from v0.17.4 on (it answers others with HTTP 500
// "unsupported quantization type").
var newQuantizeTypes = []string{"f32", "f16", "q4_k_s", "q4_k_m", "q8_0"}

// quantize creates the F16 base at path in Ollama quantized to qt and loads what the server stored. On a
// server that no longer quantizes to qt the test is skipped: v0.6.5 covers that type.
func quantize(t *testing.T, c *ollama.Client, path, qt string, want gguf.Type) quantized {
	t.Helper()
	return quantizeAs(t, c, path, qt, "blk.0.ffn_up.weight", want)
}

// quantizeAs is quantize checking that the server stored the matrix probe as want.
func quantizeAs(t *testing.T, c *ollama.Client, path, qt, probe string, want gguf.Type) quantized {
	t.Helper()
	if v := ollamatest.Version(t); ollamatest.CompareVersions(v, "0.17.4") >= 0 && !slices.Contains(newQuantizeTypes, strings.ToLower(qt)) {
		t.Skipf("Ollama %s does not quantize to %s (only %v); checked on v0.6.5", v, qt, newQuantizeTypes)
	}
	s := create(t, c, path, ollama.CreateOptions{Quantize: qt})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	blob, err := c.ResolveGGUF(ctx, s.model)
	if err != nil {
		t.Fatal(err)
	}
	m, err := weights.Load(blob)
	if err != nil {
		t.Fatal(err)
	}
	if typ, ok := m.Quantized(probe); !ok || typ != want {
		t.Fatalf("%s: the server stored %s as %v, want %v", qt, probe, typ, want)
	}
	return quantized{s, m, want}
}

// TestQuantizedParity has Ollama quantize an F16 base to each quantization users meet (Q4_0, Q8_0, Q4_K_M,
// Q5_K_M, Q6_K; the K_M mixes also hold Q6_K matrices, and llama.cpp keeps attn_v in F16 here) and checks
// that our engine, loading the stored GGUF and computing as the runner does (llama.Runner: activations
// quantized to Q8 blocks, ggml's sums and exponentials), continues every prompt exactly as Ollama does and
// reaches a bit-identical final hidden state. It also measures how far the default float32 arithmetic
// over the dequantized weights is from the runner, the error callers accept without llama.Runner.
func TestQuantizedParity(t *testing.T) {
	if testing.Short() {
		t.Skip("about 30 s against Ollama")
	}
	c := ollamatest.Client(t)
	path := filepath.Join(t.TempDir(), "base-f16.gguf")
	if _, _, err := tinymodel.WriteShape(context.Background(), path, quantShape, 31, 0.08, gguf.TypeF16); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		quant string
		main  gguf.Type
	}{
		{"q4_0", gguf.TypeQ4_0},
		{"q8_0", gguf.TypeQ8_0},
		{"q4_K_M", gguf.TypeQ4_K},
		{"q5_K_M", gguf.TypeQ5_K},
		{"q6_K", gguf.TypeQ6_K},
	}
	for _, tt := range tests {
		t.Run(tt.quant, func(t *testing.T) {
			q := quantize(t, c, path, tt.quant, tt.main)
			q.m.Precision = runner(t)
			compare(t, q.served, q.m, nil, 0)
			hiddenEqual(t, q.served, q.m)
			drift, size := defaultDrift(t, q.m, llama.Precision{KVCacheF16: true})
			t.Logf("%s: float32 arithmetic moves logits by up to %.3g (largest logit %.3g)", tt.quant, drift, size)
			// Load's default multiplies by the matrices with an int8 kernel as the runner does.
			i8, _ := defaultDrift(t, q.m, llama.Precision{KVCacheF16: true, Int8: true})
			t.Logf("%s: with Precision.Int8 (kernels for %v) by up to %.3g", tt.quant, llama.Int8Types(), i8)
			// The defaults differ from the runner in attention too (v0.17.4's runner uses flash attention, the
			// defaults do not), which can outweigh the products; with attention computed as the runner does, the
			// int8 products must bring the logits closer than float32 products over the dequantized weights.
			fa := q.m.Precision.FlashAttention
			f32FA, _ := defaultDrift(t, q.m, llama.Precision{KVCacheF16: true, FlashAttention: fa})
			i8FA, _ := defaultDrift(t, q.m, llama.Precision{KVCacheF16: true, FlashAttention: fa, Int8: true})
			t.Logf("%s: with the runner's attention (flash %v): float32 %.3g, Int8 %.3g", tt.quant, fa, f32FA, i8FA)
			if slices.Contains(llama.Int8Types(), tt.main) && i8FA > f32FA {
				t.Errorf("%s: Precision.Int8 moves logits further from the runner's (%.3g) than float32 products (%.3g)",
					tt.quant, i8FA, f32FA)
			}
		})
	}
}

// TestQuantizedAdapterParity deploys a LoRA adapter on a Q4_K_M base: Ollama applies it to the quantized
// weights in float32, as our engine does over the same base.
func TestQuantizedAdapterParity(t *testing.T) {
	if testing.Short() {
		t.Skip("about 10 s against Ollama")
	}
	c := ollamatest.Client(t)
	path := filepath.Join(t.TempDir(), "base-f16.gguf")
	if _, _, err := tinymodel.WriteShape(context.Background(), path, quantShape, 32, 0.08, gguf.TypeF16); err != nil {
		t.Fatal(err)
	}
	q := quantize(t, c, path, "q4_K_M", gguf.TypeQ4_K)
	q.m.Precision = runner(t)
	a := adapterAll(t, q.m.Model, false)
	compare(t, q.withAdapter(t, a, "", "fastslow-parity-qlora"), q.m, a, 0)
}

// TestOurQuantizedParity covers bases quantized by our writer rather than by Ollama: every matrix, the
// embeddings and the output in one K-quant, which llama.cpp's own mixes never produce.
func TestOurQuantizedParity(t *testing.T) {
	if testing.Short() {
		t.Skip("about 10 s against Ollama")
	}
	c := ollamatest.Client(t)
	for _, typ := range []gguf.Type{gguf.TypeQ4_K, gguf.TypeQ5_K} {
		t.Run(typ.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "base.gguf")
			if _, _, err := tinymodel.WriteShape(context.Background(), path, quantShape, 33, 0.08, typ); err != nil {
				t.Fatal(err)
			}
			m, err := weights.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := m.Quantized("token_embd.weight"); got != typ {
				t.Fatalf("token_embd stored as %v, want %v", got, typ)
			}
			s := create(t, c, path, ollama.CreateOptions{})
			m.Precision = runner(t)
			compare(t, s, m, nil, 0)
			hiddenEqual(t, s, m)
		})
	}
}

// TestHiddenStateExact compares the final hidden state (what /api/embeddings returns on v0.6.5) bit for bit
// on F32 and F16 bases of the tiny shape (TestFlavorParity does the same on the flavors).
func TestHiddenStateExact(t *testing.T) {
	c := ollamatest.Client(t)
	for _, typ := range []gguf.Type{gguf.TypeF32, gguf.TypeF16} {
		path := filepath.Join(t.TempDir(), "base.gguf")
		if _, _, err := tinymodel.Write(context.Background(), path, 15, 0.15, typ); err != nil {
			t.Fatal(err)
		}
		m, err := weights.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		m.Precision = runner(t)
		hiddenEqual(t, create(t, c, path, ollama.CreateOptions{}), m)
	}
}

// hiddenEqual checks that the server's final hidden state at the last token equals ours exactly, for each
// of prompts and any extra texts.
func hiddenEqual(t *testing.T, s served, m *weights.Model, extra ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, p := range append(slices.Clone(prompts), extra...) {
		h, err := s.client.HiddenState(ctx, s.model, p)
		if err != nil {
			t.Fatal(err)
		}
		ids := m.Tokenizer.Encode(p, true)
		ours, err := m.Hidden(ids, nil)
		if err != nil {
			t.Fatal(err)
		}
		last := ours[(len(ids)-1)*m.Config.Dim:]
		var worst float64
		for i := range h {
			worst = max(worst, math.Abs(float64(h[i]-last[i])))
		}
		if worst != 0 {
			t.Errorf("%s, prompt %.40q (%d tokens): hidden states differ by up to %g", s.model, p, len(ids), worst)
		}
	}
}

// defaultDrift returns the largest difference between the logits of llama.Runner (m's Precision) and of the
// arithmetic of pr (e.g. float32 products over the dequantized weights) over the prompts, and the largest
// logit.
func defaultDrift(t *testing.T, m *weights.Model, pr llama.Precision) (drift, size float64) {
	t.Helper()
	runner := m.Precision
	defer func() { m.Precision = runner }()
	for _, p := range prompts {
		ids := m.Tokenizer.Encode(p, true)
		m.Precision = runner
		want, err := m.Logits(ids, nil)
		if err != nil {
			t.Fatal(err)
		}
		m.Precision = pr
		got, err := m.Logits(ids, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			drift = max(drift, math.Abs(float64(got[i]-want[i])))
			size = max(size, math.Abs(float64(want[i])))
		}
	}
	return drift, size
}

// TestQuantizedFallbackParity quantizes a qwen2 base whose width (128) does not fill K-quant blocks, as
// qwen2.5:0.5b's (896) does not: llama.cpp then stores those matrices as Q5_0 (for Q4_K), Q5_1 (for Q5_K) or
// Q8_0 (for Q6_K) and only the feed-forward down projection (rows of 256) as a K-quant. Q4_1 is checked
// on the same base.
func TestQuantizedFallbackParity(t *testing.T) {
	if testing.Short() {
		t.Skip("about 15 s against Ollama")
	}
	c := ollamatest.Client(t)
	shape := llama.Config{Arch: llama.ArchQwen2, Dim: 128, Hidden: 256, Layers: 2, Heads: 4, KVHeads: 2,
		ContextLength: 256, RopeBase: 1e6, NormEps: 1e-6, TiedOutput: true}
	path := filepath.Join(t.TempDir(), "base-f16.gguf")
	if _, _, err := tinymodel.WriteShape(context.Background(), path, shape, 34, 0.1, gguf.TypeF16); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		quant     string
		main      gguf.Type // ffn_up, rows of 128
		down      gguf.Type // ffn_down, rows of 256, when it is a K-quant
		checkDown bool
	}{
		{"q4_K_M", gguf.TypeQ5_0, gguf.TypeQ4_K, false}, // some blocks' ffn_down get Q6_K in the mix
		{"q5_K_M", gguf.TypeQ5_1, gguf.TypeQ5_K, false},
		{"q4_1", gguf.TypeQ4_1, gguf.TypeQ4_1, true},
	}
	for _, tt := range tests {
		t.Run(tt.quant, func(t *testing.T) {
			q := quantize(t, c, path, tt.quant, tt.main)
			if typ, _ := q.m.Quantized("blk.0.ffn_down.weight"); tt.checkDown && typ != tt.down {
				t.Errorf("ffn_down stored as %v, want %v", typ, tt.down)
			}
			q.m.Precision = runner(t)
			compare(t, q.served, q.m, nil, 0)
			hiddenEqual(t, q.served, q.m)
		})
	}
}
