package weights_test

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
)

// mergeShape fills K-quant blocks: rows of 256 and 512 values.
var mergeShape = llama.Config{Dim: 256, Hidden: 512, Layers: 2, Heads: 4, KVHeads: 2, ContextLength: 128,
	RopeBase: 10000, NormEps: 1e-5}

// mixedTypes gives each projection its own type, like the mixes of llama.cpp's Q4_K_M and friends, so one
// merge re-encodes every type the merge path writes.
var mixedTypes = map[string]gguf.Type{
	"attn_q": gguf.TypeQ4_K, "attn_k": gguf.TypeQ5_K, "attn_v": gguf.TypeQ6_K, "attn_output": gguf.TypeQ8_0,
	"ffn_gate": gguf.TypeQ4_0, "ffn_up": gguf.TypeF16, "ffn_down": gguf.TypeBF16, "token_embd": gguf.TypeQ6_K,
}

// writeMixed rewrites the F32 GGUF at src to dst with the matrices encoded by mixedTypes.
func writeMixed(t *testing.T, src, dst string) {
	t.Helper()
	f, err := gguf.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := writerWithMeta(t, f)
	for _, info := range f.Tensors {
		typ := info.Type
		for kind, k := range mixedTypes {
			if strings.Contains(info.Name, "."+kind+".") || strings.HasPrefix(info.Name, kind+".") {
				typ = k
			}
		}
		data, err := f.Float32s(info.Name)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddTensor(info.Name, typ, info.Shape, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteFile(dst); err != nil {
		t.Fatal(err)
	}
}

// randomAdapter returns an adapter of every projection with A as PEFT initializes it and B random, so the
// update's size is about std relative to the weights' 0.1.
func randomAdapter(t *testing.T, m *llama.Model, std float64, seed uint64) *llama.Adapter {
	t.Helper()
	cfg := llama.LoRAConfig{Rank: 4, Alpha: 8, Targets: []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}}
	a, err := llama.NewAdapter(m, cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	for _, p := range a.Params() {
		if strings.HasSuffix(p.Name, ".lora_b") {
			for i := range p.Data {
				p.Data[i] = float32(rng.NormFloat64() * std)
			}
		}
	}
	return a
}

// reference computes W + scale·B·A in float64 from the base file's tensor and the adapter.
func reference(t *testing.T, base *gguf.File, a *llama.Adapter, name string) []float64 {
	t.Helper()
	w, err := base.Float32s(name)
	if err != nil {
		t.Fatal(err)
	}
	var A, B *llama.Param
	for _, p := range a.Params() {
		switch p.Name {
		case name + ".lora_a":
			A = p
		case name + ".lora_b":
			B = p
		}
	}
	if A == nil || B == nil {
		t.Fatalf("adapter has no pair for %s", name)
	}
	in, r := A.Shape[0], A.Shape[1]
	out := B.Shape[1]
	ref := make([]float64, len(w))
	for o := range out {
		for i := range in {
			var s float64
			for k := range r {
				s += float64(B.Data[o*r+k]) * float64(A.Data[k*in+i])
			}
			ref[o*in+i] = float64(w[o*in+i]) + float64(a.Scale())*s
		}
	}
	return ref
}

func maxAbsDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// TestMergeMatchesAdapter merges a random adapter into bases of several encodings and checks the result
// against an independent float64 computation of W + scale·B·A, the unchanged tensors against the base's
// bytes, and the engine's logits on the merged file against the base with the adapter applied.
func TestMergeMatchesAdapter(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f32Path := filepath.Join(dir, "base-f32.gguf")
	if _, _, err := tinymodel.WriteShape(ctx, f32Path, mergeShape, 5, 0.1, gguf.TypeF32); err != nil {
		t.Fatal(err)
	}
	mixedPath := filepath.Join(dir, "base-mixed.gguf")
	writeMixed(t, f32Path, mixedPath)
	q8Path := filepath.Join(dir, "base-q8.gguf")
	if _, _, err := tinymodel.WriteShape(ctx, q8Path, mergeShape, 5, 0.1, gguf.TypeQ8_0); err != nil {
		t.Fatal(err)
	}

	const probe = "Alia Brenn was born in Veltmor, 1987."
	f32, err := weights.Load(f32Path)
	if err != nil {
		t.Fatal(err)
	}
	toks := f32.Tokenizer.Encode(probe, true)
	// encodingDrift is how far the base's own encoding moved the logits from the F32 model's (in float32):
	// the scale of what re-encoding a merged tensor in the same type may cost.
	encodingDrift := func(path string) float64 {
		b, err := weights.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		b.Precision, f32.Precision = llama.Precision{}, llama.Precision{}
		x, err := b.Logits(toks, nil)
		if err != nil {
			t.Fatal(err)
		}
		y, err := f32.Logits(toks, nil)
		if err != nil {
			t.Fatal(err)
		}
		return maxAbsDiff(x, y)
	}
	q8Drift, mixedDrift := encodingDrift(q8Path), encodingDrift(mixedPath)
	t.Logf("encoding drift of the bases: q8_0 %.3g, mixed %.3g", q8Drift, mixedDrift)

	tests := []struct {
		name     string
		base     string
		typ      weights.MergedType
		maxDrift float64 // largest logit difference from base + adapter
		retained [2]float64
	}{
		{"f32 same", f32Path, weights.MergedSame, 1e-4, [2]float64{0.9999, 1.0001}},
		{"f32 as f16", f32Path, weights.MergedF16, 0.02, [2]float64{0.999, 1.001}},
		{"q8_0 same", q8Path, weights.MergedSame, 2 * q8Drift, [2]float64{0.99, 1.01}},
		{"q8_0 as f32", q8Path, weights.MergedF32, 1e-4, [2]float64{0.9999, 1.0001}},
		{"mixed same", mixedPath, weights.MergedSame, 2 * mixedDrift, [2]float64{0.5, 1.2}},
		{"mixed as f16", mixedPath, weights.MergedF16, 0.02, [2]float64{0.999, 1.001}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, err := weights.Load(tt.base)
			if err != nil {
				t.Fatal(err)
			}
			a := randomAdapter(t, base.Model, 0.05, 9)
			out := filepath.Join(t.TempDir(), "merged.gguf")
			m, err := weights.Merge(ctx, base, tt.base, a, out, weights.MergeOptions{Type: tt.typ, Probe: probe})
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Tensors) != 14 {
				t.Fatalf("%d tensors merged, want 14", len(m.Tensors))
			}
			t.Logf("drift %.3g, retained %.4f, %d bytes", m.Drift, m.Retained(), m.Size)
			if m.Drift > tt.maxDrift {
				t.Errorf("logits differ from base + adapter by %.3g, want at most %g", m.Drift, tt.maxDrift)
			}
			if r := m.Retained(); !(r >= tt.retained[0] && r <= tt.retained[1]) {
				t.Errorf("retained %.4f of the update, want %v", r, tt.retained)
			}

			bf, err := gguf.Open(tt.base)
			if err != nil {
				t.Fatal(err)
			}
			defer bf.Close()
			mf, err := gguf.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer mf.Close()
			adapted := map[string]bool{}
			for _, mt := range m.Tensors {
				adapted[mt.Name] = true
				info, _ := mf.Tensor(mt.Name)
				binfo, _ := bf.Tensor(mt.Name)
				want := binfo.Type
				switch tt.typ {
				case weights.MergedF16:
					want = gguf.TypeF16
				case weights.MergedF32:
					want = gguf.TypeF32
				}
				if info.Type != want || mt.Type != want || mt.BaseType != binfo.Type {
					t.Errorf("%s: written as %s (reported %s, base %s), want %s", mt.Name, info.Type, mt.Type, mt.BaseType, want)
				}
				// The math: the stored tensor is W + scale·B·A, encoded. Blocks whose float32 input rounds
				// differently in its last bit may quantize differently; a wrong scale or orientation changes
				// nearly every block.
				ref := reference(t, bf, a, mt.Name)
				ref32 := make([]float32, len(ref))
				for i, v := range ref {
					ref32[i] = float32(v)
				}
				enc, err := gguf.Quantize(info.Type, ref32)
				if err != nil {
					t.Fatal(err)
				}
				raw, err := mf.Raw(mt.Name)
				if err != nil {
					t.Fatal(err)
				}
				if info.Type == gguf.TypeF32 {
					dec, _ := mf.Float32s(mt.Name)
					for i, v := range ref {
						if d := math.Abs(float64(dec[i]) - v); d > 1e-6*(1+math.Abs(v)) {
							t.Fatalf("%s[%d] = %g, want %g", mt.Name, i, dec[i], v)
						}
					}
					continue
				}
				bb := int(info.Type.BlockBytes())
				same := 0
				for off := 0; off < len(raw); off += bb {
					if bytes.Equal(raw[off:off+bb], enc[off:off+bb]) {
						same++
					}
				}
				if blocks := len(raw) / bb; float64(same) < 0.99*float64(blocks) {
					t.Errorf("%s: %d of %d blocks equal the encoding of the float64 reference", mt.Name, same, blocks)
				}
			}
			for _, info := range bf.Tensors {
				if adapted[info.Name] {
					continue
				}
				x, _ := bf.Raw(info.Name)
				y, err := mf.Raw(info.Name)
				if err != nil || !bytes.Equal(x, y) {
					t.Errorf("%s: not copied byte for byte (%v)", info.Name, err)
				}
			}

			// The engine on the file from disk equals the Merged model and is close to base + adapter.
			loaded, err := weights.Load(out)
			if err != nil {
				t.Fatal(err)
			}
			got, err := loaded.Logits(toks, nil)
			if err != nil {
				t.Fatal(err)
			}
			pred, err := m.Model.Logits(toks, nil)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(got, pred); d != 0 {
				t.Errorf("the merged file's logits differ from Merged.Model's by %g", d)
			}
			// In float32, to measure the merge and not the KV cache's rounding.
			loaded.Precision, base.Precision = llama.Precision{}, llama.Precision{}
			if got, err = loaded.Logits(toks, nil); err != nil {
				t.Fatal(err)
			}
			adapt, err := base.Logits(toks, a)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(got, adapt); d > tt.maxDrift {
				t.Errorf("the merged file's logits differ from base + adapter by %g, want at most %g", d, tt.maxDrift)
			}
		})
	}
}

// TestMergeZeroUpdateIsBase merges an adapter whose B is zero (a fresh one) into an F32 base: the merged file
// is the base file, byte for byte.
func TestMergeZeroUpdateIsBase(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "base.gguf")
	if _, _, err := tinymodel.Write(ctx, path, 3, 0.1, gguf.TypeF32); err != nil {
		t.Fatal(err)
	}
	base, err := weights.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := llama.NewAdapter(base.Model, weights.DefaultLoRA, 1)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "merged.gguf")
	m, err := weights.Merge(ctx, base, path, a, out, weights.MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	x, _ := os.ReadFile(path)
	y, _ := os.ReadFile(out)
	if !bytes.Equal(x, y) {
		t.Errorf("merging a zero update changed the file (%d bytes, base %d)", len(y), len(x))
	}
	if m.Drift != 0 || !math.IsNaN(m.Retained()) {
		t.Errorf("drift %g, retained %g; want 0 and NaN for a zero update", m.Drift, m.Retained())
	}
}

func TestMergeErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p1, p2 := filepath.Join(dir, "a.gguf"), filepath.Join(dir, "b.gguf")
	if _, _, err := tinymodel.Write(ctx, p1, 1, 0.1, gguf.TypeF32); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tinymodel.Write(ctx, p2, 2, 0.1, gguf.TypeF32); err != nil {
		t.Fatal(err)
	}
	base, err := weights.Load(p1)
	if err != nil {
		t.Fatal(err)
	}
	a := randomAdapter(t, base.Model, 0.05, 1)
	qwen := base.Config
	qwen.Arch = llama.ArchQwen2
	qm, err := llama.New(qwen)
	if err != nil {
		t.Fatal(err)
	}
	qa := randomAdapter(t, qm, 0.05, 1)
	out := filepath.Join(dir, "m.gguf")
	tests := []struct {
		name, path string
		a          *llama.Adapter
		typ        weights.MergedType
		want       string
	}{
		{"other file", p2, a, "", "not loaded from this file"},
		{"other architecture", p1, qa, "", "adapter made for a qwen2 model"},
		{"unknown type", p1, a, "q3", "unknown merged type"},
		{"missing file", filepath.Join(dir, "none.gguf"), a, "", "no such file"},
	}
	if base.Path != p1 {
		t.Errorf("Load set Path %q, want %q", base.Path, p1)
	}
	inMemory := &weights.Model{Model: base.Model, Tokenizer: base.Tokenizer}
	if _, err := weights.Merge(ctx, inMemory, "", a, out, weights.MergeOptions{}); err == nil || !strings.Contains(err.Error(), "no GGUF file") {
		t.Errorf("a model without a file: error %v", err)
	}
	for _, tt := range tests {
		_, err := weights.Merge(ctx, base, tt.path, tt.a, out, weights.MergeOptions{Type: tt.typ})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
		if _, serr := os.Stat(out); serr == nil {
			t.Errorf("%s: left %s behind", tt.name, out)
		}
	}
}

// TestVerifyMerged checks a merged file again, as before serving it from disk, and finds every kind of damage.
func TestVerifyMerged(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	basePath := filepath.Join(dir, "base.gguf")
	if _, _, err := tinymodel.WriteShape(ctx, basePath, mergeShape, 5, 0.1, gguf.TypeQ8_0); err != nil {
		t.Fatal(err)
	}
	base, err := weights.Load(basePath)
	if err != nil {
		t.Fatal(err)
	}
	a := randomAdapter(t, base.Model, 0.05, 3)
	good := filepath.Join(dir, "merged.gguf")
	m, err := weights.Merge(ctx, base, basePath, a, good, weights.MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := weights.VerifyMerged(ctx, base, "", a, good, weights.MergeOptions{})
	if err != nil {
		t.Fatalf("intact file: %v", err)
	}
	if v.Model.Path != good || m.Model.Path != good {
		t.Errorf("merged model paths %q and %q, want %q", v.Model.Path, m.Model.Path, good)
	}
	// In memory: the same weights, nothing written.
	mem, err := weights.MergeInMemory(ctx, base, "", a, weights.MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	toks := base.Tokenizer.Encode("Alia Brenn was born in Veltmor, 1987.", true)
	x, err := mem.Model.Logits(toks, nil)
	if err != nil {
		t.Fatal(err)
	}
	y, err := m.Model.Logits(toks, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(x, y); d != 0 || mem.Path != "" || mem.Size != 0 {
		t.Errorf("in memory: logits differ by %g from the written merge; path %q size %d", d, mem.Path, mem.Size)
	}
	if v.Drift != m.Drift || v.Size != m.Size || len(v.Tensors) != len(m.Tensors) {
		t.Errorf("verify reports drift %g size %d tensors %d, merge %g %d %d", v.Drift, v.Size, len(v.Tensors), m.Drift, m.Size, len(m.Tensors))
	}

	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(good)
	if err != nil {
		t.Fatal(err)
	}
	offset := func(name string) int64 {
		info, ok := f.Tensor(name)
		if !ok {
			t.Fatalf("no %s", name)
		}
		return f.DataOffset + int64(info.Offset)
	}
	flip := func(off int64) []byte {
		d := bytes.Clone(data)
		d[off] ^= 0x10
		return d
	}
	metaOff := int64(bytes.Index(data, []byte("tiny-llama-q8_0")))
	if metaOff < 0 {
		t.Fatal("general.name not found in the file")
	}
	f.Close()
	other := randomAdapter(t, base.Model, 0.05, 4)
	tests := []struct {
		name string
		data []byte
		a    *llama.Adapter
		want string
	}{
		{"unchanged tensor", flip(offset("blk.1.attn_norm.weight") + 2), a, "bytes differ from the base's"},
		{"merged tensor", flip(offset("blk.0.ffn_up.weight") + 40), a, "differ from the encoding"},
		{"metadata", flip(metaOff), a, "metadata differs"},
		{"other adapter", data, other, "differ from the encoding"},
		{"truncated", data[:len(data)-100], a, "gguf"},
	}
	for _, tt := range tests {
		p := filepath.Join(dir, "bad.gguf")
		if err := os.WriteFile(p, tt.data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := weights.VerifyMerged(ctx, base, basePath, tt.a, p, weights.MergeOptions{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}
