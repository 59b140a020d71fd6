package llama

import (
	"math"
	"slices"
	"testing"

	"github.com/fastslow/fastslow/weights/gguf"
)

// cloneModel returns a deep copy of m's tensors in a new model of the same shape.
func cloneModel(t *testing.T, m *Model) *Model {
	t.Helper()
	c, err := New(m.Config)
	if err != nil {
		t.Fatal(err)
	}
	c.Precision = m.Precision
	for _, p := range append(m.Tensors(), m.Constants()...) {
		q, ok := c.Tensor(p.Name)
		if !ok {
			t.Fatalf("clone lacks %s", p.Name)
		}
		copy(q.Data, p.Data)
	}
	return c
}

// TestWithTensorsReplacesEachTensor replaces every trained tensor of every architecture variant, one at a
// time, and checks that the derived model computes what a copy of the model with that tensor changed in
// place computes, while the original model is untouched.
func TestWithTensorsReplacesEachTensor(t *testing.T) {
	tokens := []int32{1, 4, 2, 7, 3, 9}
	variants := archVariants()
	variants["llama-untied"] = tinyConfig(false)
	for name, cfg := range variants {
		m := newTinyConfig(t, cfg, 3)
		base, err := m.Logits(tokens, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range m.Tensors() {
			data := slices.Clone(p.Data)
			for i := range data {
				data[i] = data[i]*1.5 + 0.01*float32(i%7)
			}
			d, err := m.WithTensors(map[string][]float32{p.Name: data})
			if err != nil {
				t.Fatalf("%s %s: %v", name, p.Name, err)
			}
			got, err := d.Logits(tokens, nil)
			if err != nil {
				t.Fatal(err)
			}
			ref := cloneModel(t, m)
			q, _ := ref.Tensor(p.Name)
			copy(q.Data, data)
			want, err := ref.Logits(tokens, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s: replacing %s: logits differ from the model changed in place", name, p.Name)
			}
			if slices.Equal(got, base) {
				t.Errorf("%s: replacing %s did not change the logits", name, p.Name)
			}
			if again, _ := m.Logits(tokens, nil); !slices.Equal(again, base) {
				t.Fatalf("%s: replacing %s changed the original model", name, p.Name)
			}
		}
	}
}

func TestWithTensorsErrors(t *testing.T) {
	c := tinyConfig(true)
	c.RopeFreqFactors = true
	m := newTinyConfig(t, c, 1)
	tests := []struct {
		name string
		data map[string][]float32
	}{
		{"unknown tensor", map[string][]float32{"blk.9.attn_q.weight": make([]float32, 256)}},
		{"constant tensor", map[string][]float32{"rope_freqs.weight": make([]float32, 2)}},
		{"wrong size", map[string][]float32{"blk.0.attn_q.weight": make([]float32, 3)}},
	}
	for _, tt := range tests {
		if _, err := m.WithTensors(tt.data); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

// TestWithTensorsQuantizedForms checks that shared matrices keep their stored forms and a replaced one loses
// its form.
func TestWithTensorsQuantizedForms(t *testing.T) {
	m := newTiny(t, true, 2)
	for _, name := range []string{"blk.0.attn_q.weight", "blk.1.ffn_up.weight"} {
		p, _ := m.Tensor(name)
		for i := range p.Data {
			p.Data[i] = float32(math.Round(float64(p.Data[i])*64) / 64) // exact in F16
		}
		raw, err := gguf.Quantize(gguf.TypeF16, p.Data)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.SetQuantized(name, gguf.TypeF16, raw); err != nil {
			t.Fatal(err)
		}
	}
	p, _ := m.Tensor("blk.0.attn_q.weight")
	d, err := m.WithTensors(map[string][]float32{"blk.0.attn_q.weight": slices.Clone(p.Data)})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Quantized("blk.0.attn_q.weight"); ok {
		t.Error("replaced matrix kept the stored form of the original")
	}
	if _, ok := d.Quantized("blk.1.ffn_up.weight"); !ok {
		t.Error("shared matrix lost its stored form")
	}
	if _, ok := m.Quantized("blk.0.attn_q.weight"); !ok {
		t.Error("the original lost its stored form")
	}
}
