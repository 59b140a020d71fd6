package weights_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
)

// writerWithMeta returns a GGUF writer that holds all of f's metadata, for tests that rewrite a file.
func writerWithMeta(t *testing.T, f *gguf.File) *gguf.Writer {
	t.Helper()
	w := gguf.NewWriter()
	for _, kv := range f.Meta.All() {
		if err := w.Set(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// loadSame loads the model file at path and checks that its configuration is want.
func loadSame(t *testing.T, path string, want llama.Config) *weights.Model {
	t.Helper()
	got, err := weights.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Config != want {
		t.Fatalf("config %+v, want %+v", got.Config, want)
	}
	return got
}

// sameLogits checks that the model got loaded from a file computes the logits of ids bit for bit as the
// model m it was saved from, both in the default float32 arithmetic.
func sameLogits(t *testing.T, m *llama.Model, got *weights.Model, ids []int32) {
	t.Helper()
	z1, err := m.Logits(ids, nil)
	if err != nil {
		t.Fatal(err)
	}
	got.Precision = llama.Precision{}
	z2, err := got.Logits(ids, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(z1, z2) {
		t.Error("logits differ after the round trip")
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, typ := range []gguf.Type{gguf.TypeF32, gguf.TypeF16, gguf.TypeQ8_0} {
		t.Run(typ.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m.gguf")
			m, tok, err := tinymodel.Write(ctx, path, 1, 0.1, typ)
			if err != nil {
				t.Fatal(err)
			}
			got := loadSame(t, path, m.Config)
			if got.Tokenizer.Size() != tok.Size() {
				t.Fatalf("tokenizer size %d, want %d", got.Tokenizer.Size(), tok.Size())
			}
			text := "Alia Brenn was born in Veltmor, 1987."
			a, b := tok.Encode(text, true), got.Tokenizer.Encode(text, true)
			if !slices.Equal(a, b) {
				t.Fatalf("tokens differ: %v vs %v", a, b)
			}
			tol := map[gguf.Type]float64{gguf.TypeF32: 0, gguf.TypeF16: 1e-3, gguf.TypeQ8_0: 1e-2}[typ]
			for _, p := range m.Tensors() {
				q, _ := got.Tensor(p.Name)
				qd := got.TensorValues(q) // Q8_0 matrices stay encoded
				for i := range p.Data {
					if d := float64(p.Data[i] - qd[i]); d > tol || -d > tol {
						t.Fatalf("%s[%d] = %g, want %g (tolerance %g)", p.Name, i, qd[i], p.Data[i], tol)
					}
				}
			}
		})
	}
}

func TestAdapterRoundTrip(t *testing.T) {
	ctx := context.Background()
	m, _, err := tinymodel.New(ctx, 2, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := llama.LoRAConfig{Rank: 4, Alpha: 8, Targets: []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}}
	a, err := llama.NewAdapter(m, cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range a.Params() {
		for i := range p.Data {
			p.Data[i] = float32(i%7) * 0.01
		}
	}
	path := filepath.Join(t.TempDir(), "a.gguf")
	if err := weights.SaveAdapter(path, a, ""); err != nil {
		t.Fatal(err)
	}
	b, err := weights.LoadAdapter(path, m)
	if err != nil {
		t.Fatal(err)
	}
	if b.Scale() != a.Scale() || b.Config.Rank != 4 || len(b.Config.Targets) != 7 {
		t.Fatalf("loaded %+v scale %g, want rank 4, 7 targets, scale %g", b.Config, b.Scale(), a.Scale())
	}
	ap, bp := a.Params(), b.Params()
	for i := range ap {
		if ap[i].Name != bp[i].Name {
			t.Fatalf("param %d is %s, want %s", i, bp[i].Name, ap[i].Name)
		}
		for j := range ap[i].Data {
			if ap[i].Data[j] != bp[i].Data[j] {
				t.Fatalf("%s[%d] differs", ap[i].Name, j)
			}
		}
	}
}

func TestLoadRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.gguf")
	m, tok, err := tinymodel.Write(ctx, good, 1, 0.1, gguf.TypeF32)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.gguf")
	if err := os.WriteFile(truncated, raw[:len(raw)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	// A model whose attn_q has the wrong shape: write a copy with one tensor swapped for a smaller one.
	wrongShape := filepath.Join(dir, "shape.gguf")
	{
		f, err := gguf.Open(good)
		if err != nil {
			t.Fatal(err)
		}
		w := writerWithMeta(t, f)
		for _, info := range f.Tensors {
			data, err := f.Float32s(info.Name)
			if err != nil {
				t.Fatal(err)
			}
			shape := info.Shape
			if info.Name == "blk.0.attn_q.weight" {
				shape = []uint64{shape[0], shape[1] / 2}
				data = data[:len(data)/2]
			}
			if err := w.AddTensor(info.Name, gguf.TypeF32, shape, data); err != nil {
				t.Fatal(err)
			}
		}
		f.Close()
		if err := w.WriteFile(wrongShape); err != nil {
			t.Fatal(err)
		}
	}
	// An adapter made for a wider model does not fit the tiny one.
	otherCfg := tinymodel.Config(tok.Size())
	otherCfg.Dim, otherCfg.Hidden = 128, 256
	other, err := llama.New(otherCfg)
	if err != nil {
		t.Fatal(err)
	}
	wide, err := llama.NewAdapter(other, llama.LoRAConfig{Rank: 2, Targets: []string{"attn_q"}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	wideAdapter := filepath.Join(dir, "wide-adapter.gguf")
	if err := weights.SaveAdapter(wideAdapter, wide, ""); err != nil {
		t.Fatal(err)
	}
	foreignAdapter := filepath.Join(dir, "foreign-adapter.gguf")
	{
		w := gguf.NewWriter()
		for _, kv := range []gguf.KV{{Key: "general.architecture", Value: "qwen2"}, {Key: "general.type", Value: "adapter"}, {Key: "adapter.type", Value: "lora"}, {Key: "adapter.lora.alpha", Value: float32(1)}} {
			if err := w.Set(kv.Key, kv.Value); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.WriteFile(foreignAdapter); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name, path, want string
		adapter          bool
	}{
		{"truncated", truncated, "load model", false},
		{"wrong tensor shape", wrongShape, "blk.0.attn_q.weight has shape", false},
		{"missing file", filepath.Join(dir, "nope.gguf"), "no such file", false},
		{"adapter as model", wideAdapter, "is a LoRA adapter", false},
		{"adapter shapes", wideAdapter, "has shape", true},
		{"adapter architecture", foreignAdapter, `architecture "qwen2"`, true},
		{"model as adapter", good, `general.type is not "adapter"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.adapter {
				_, err = weights.LoadAdapter(tt.path, m)
			} else {
				_, err = weights.Load(tt.path)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
