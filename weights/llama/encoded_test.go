package llama

import (
	"math"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/weights/gguf"
)

// encodedPair returns two copies of a random model whose matrices are quantized by recipe (a type per
// matrix name suffix, with a default): one decode-first, as weights.Load builds it (float32 Data holding the
// decoded values, the stored forms kept for Precision.Quantized), and one keeping its base encoded.
func encodedPair(t *testing.T, c Config, recipe func(name string) gguf.Type) (decoded, encoded *Model) {
	t.Helper()
	base := newTinyConfig(t, c, 21)
	decoded, encoded = newTinyConfig(t, c, 21), newTinyConfig(t, c, 21)
	for _, p := range base.Tensors() {
		if len(p.Shape) != 2 {
			continue
		}
		typ := recipe(p.Name)
		raw, err := gguf.Quantize(typ, p.Data)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := decoded.Tensor(p.Name)
		if err := gguf.Dequantize(typ, raw, d.Data); err != nil {
			t.Fatal(err)
		}
		if err := decoded.SetQuantized(p.Name, typ, raw); err != nil {
			t.Fatal(err)
		}
		if err := encoded.SetEncoded(p.Name, typ, raw); err != nil {
			t.Fatal(err)
		}
	}
	return decoded, encoded
}

// q4KM is the choice of llama.cpp's Q4_K_M for these small models: Q6_K for the output, attn_v and ffn_down,
// Q4_K elsewhere.
func q4KM(name string) gguf.Type {
	for _, s := range []string{"output.weight", "attn_v.weight", "ffn_down.weight"} {
		if strings.HasSuffix(name, s) && !strings.HasSuffix(name, "attn_output.weight") {
			return gguf.TypeQ6_K
		}
	}
	return gguf.TypeQ4_K
}

// TestEncodedTraining trains a LoRA adapter on all seven projections for a few steps on a quantized model
// twice, once decode-first and once with the base kept encoded, and requires the same loss and the same
// gradient of every adapter tensor at every step, bit for bit, and the same logits before and after (plain,
// and with Precision.Quantized). The encoded model must make no float32 copy of its matrices.
func TestEncodedTraining(t *testing.T) {
	one := func(typ gguf.Type) func(string) gguf.Type { return func(string) gguf.Type { return typ } }
	tests := []struct {
		name   string
		tied   bool
		recipe func(string) gguf.Type
	}{
		{"q4_k_m", false, q4KM},
		{"q4_k_m-tied", true, q4KM},
		{"q5_k", false, one(gguf.TypeQ5_K)},
		{"q4_0", true, one(gguf.TypeQ4_0)},
		{"q8_0", false, one(gguf.TypeQ8_0)},
		{"f16", false, one(gguf.TypeF16)},
	}
	seqs := []Sequence{
		{Tokens: []int32{1, 17, 250, 3, 99, 4, 5, 180, 7, 8, 2, 44}, Start: 3},
		{Tokens: []int32{1, 60, 61, 62, 299, 0, 5}, Start: 1},
		{Tokens: []int32{1, 2}, Start: 1},
	}
	defer func(f int) { outBlockFloats = f }(outBlockFloats)
	outBlockFloats = 64 * 256 // the output layer's products in blocks of 64 vocabulary rows
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Vocab: 300, Dim: 256, Hidden: 512, Layers: 2, Heads: 4, KVHeads: 2, ContextLength: 32,
				RopeBase: 10000, NormEps: 1e-5, TiedOutput: tc.tied}
			dm, em := encodedPair(t, c, tc.recipe)
			for _, p := range em.params {
				if _, enc := em.Encoded(p.Name); enc != (len(p.Shape) == 2) || (enc && p.Data != nil) {
					t.Fatalf("%s: encoded %v, Data %d values", p.Name, enc, len(p.Data))
				}
			}
			if 100*em.WeightBytes() > 55*dm.WeightBytes() {
				t.Errorf("encoded model holds %d bytes of weights, decode-first %d", em.WeightBytes(), dm.WeightBytes())
			}
			cfg := LoRAConfig{Rank: 4, Alpha: 8, Targets: linearNames[:]}
			da, err := NewAdapter(dm, cfg, 5)
			if err != nil {
				t.Fatal(err)
			}
			ea, _ := NewAdapter(em, cfg, 5)
			sameLogits(t, dm, em, da, ea)
			for step := range 3 {
				da.ZeroGrad()
				ea.ZeroGrad()
				dl, dn, err := dm.LossAndGrad(t.Context(), seqs, da, false)
				if err != nil {
					t.Fatal(err)
				}
				el, en, err := em.LossAndGrad(t.Context(), seqs, ea, false)
				if err != nil {
					t.Fatal(err)
				}
				if math.Float64bits(dl) != math.Float64bits(el) || dn != en {
					t.Fatalf("step %d: loss %v over %d tokens encoded, %v over %d decode-first", step, el, en, dl, dn)
				}
				for i, p := range da.params {
					sameBits(t, p.Name+" gradient", ea.params[i].Grad, p.Grad)
					for j, g := range p.Grad { // a plain SGD step, the same on both
						p.Data[j] -= 0.5 * g
						ea.params[i].Data[j] -= 0.5 * g
					}
				}
			}
			sameLogits(t, dm, em, da, ea)
			for _, p := range em.params {
				if len(p.Shape) == 2 && p.Data != nil {
					t.Fatalf("%s: training made a float32 copy", p.Name)
				}
			}
		})
	}
}

// sameLogits requires equal logits from both models, with their adapters, under the default precision and
// under Precision.Quantized (the runner's products on the stored forms).
func sameLogits(t *testing.T, dm, em *Model, da, ea *Adapter) {
	t.Helper()
	tokens := []int32{1, 5, 77, 123, 9}
	for _, prec := range []Precision{{}, {KVCacheF16: true, Quantized: true}} {
		dm.Precision, em.Precision = prec, prec
		want, err := dm.Logits(tokens, da)
		if err != nil {
			t.Fatal(err)
		}
		got, err := em.Logits(tokens, ea)
		if err != nil {
			t.Fatal(err)
		}
		sameBits(t, "logits", got, want)
		// One-token decoding runs the matrix-vector products.
		want, _ = dm.Logits(tokens[:1], da)
		got, _ = em.Logits(tokens[:1], ea)
		sameBits(t, "logits of one token", got, want)
	}
	dm.Precision, em.Precision = Precision{}, Precision{}
}

// TestEncodedDecodeBase checks that Tensors hands out decoded values without leaving the encoded products,
// and that EnableGrad returns the model to float32 for training the base.
func TestEncodedDecodeBase(t *testing.T) {
	c := Config{Vocab: 40, Dim: 256, Hidden: 256, Layers: 1, Heads: 2, KVHeads: 2, ContextLength: 16,
		RopeBase: 10000, NormEps: 1e-5}
	dm, em := encodedPair(t, c, q4KM)
	if p, _ := em.Tensor("blk.0.attn_q.weight"); p.Data != nil {
		t.Fatal("Tensor decoded an encoded matrix")
	}
	p, _ := em.Tensor("blk.0.ffn_down.weight")
	d, _ := dm.Tensor("blk.0.ffn_down.weight")
	sameBits(t, "TensorValues", em.TensorValues(p), d.Data)
	for i, p := range em.Tensors() {
		sameBits(t, p.Name, p.Data, dm.params[i].Data)
	}
	if _, enc := em.Encoded("blk.0.attn_q.weight"); !enc {
		t.Fatal("Tensors stopped the encoded products")
	}
	em.EnableGrad()
	if _, enc := em.Encoded("blk.0.attn_q.weight"); enc {
		t.Fatal("EnableGrad kept the base encoded")
	}
	seqs := []Sequence{{Tokens: []int32{1, 2, 3, 4}, Start: 1}}
	dl, _, err := dm.LossAndGrad(t.Context(), seqs, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	el, _, err := em.LossAndGrad(t.Context(), seqs, nil, true)
	if err != nil || dl != el {
		t.Fatalf("full training loss %v (%v), decode-first %v", el, err, dl)
	}
	for i, p := range em.params {
		sameBits(t, p.Name+" gradient", p.Grad, dm.params[i].Grad)
	}
}
