package llama

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// tinyConfig is small enough for finite differences yet exercises grouped-query attention (two query heads
// per key/value head) and more than one block.
func tinyConfig(tied bool) Config {
	return Config{Vocab: 11, Dim: 16, Hidden: 24, Layers: 2, Heads: 4, KVHeads: 2, ContextLength: 32,
		RopeBase: 10000, NormEps: 1e-5, TiedOutput: tied}
}

func newTiny(t testing.TB, tied bool, seed uint64) *Model {
	t.Helper()
	return newTinyConfig(t, tinyConfig(tied), seed)
}

// newTinyConfig returns a random model of shape c with norm weights away from 1 (so a wrong use of them
// shows) and, when c has them, RoPE frequency factors that differ from pair to pair.
func newTinyConfig(t testing.TB, c Config, seed uint64) *Model {
	t.Helper()
	m, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	m.InitRandom(seed, 0.3)
	for _, p := range m.Tensors() {
		if strings.HasSuffix(p.Name, "norm.weight") {
			for i := range p.Data {
				p.Data[i] = 0.8 + 0.05*float32(i%9)
			}
		}
	}
	if p, ok := m.Tensor("rope_freqs.weight"); ok {
		for i := range p.Data {
			p.Data[i] = 1 + 1.5*float32(i%3)
		}
	}
	return m
}

func TestConfigValidate(t *testing.T) {
	good := tinyConfig(false)
	tests := []struct {
		name   string
		mutate func(*Config)
		ok     bool
	}{
		{"good", func(*Config) {}, true},
		{"zero vocab", func(c *Config) { c.Vocab = 0 }, false},
		{"kv heads not dividing", func(c *Config) { c.KVHeads = 3 }, false},
		{"dim not multiple of heads", func(c *Config) { c.Dim = 18 }, false},
		{"odd head dim", func(c *Config) { c.Dim = 12; c.Heads = 4; c.KVHeads = 4 }, false},
		{"zero context", func(c *Config) { c.ContextLength = 0 }, false},
		{"zero rope base", func(c *Config) { c.RopeBase = 0 }, false},
		{"negative eps", func(c *Config) { c.NormEps = -1 }, false},
		{"nan eps", func(c *Config) { c.NormEps = float32(math.NaN()) }, false},
	}
	for _, tt := range tests {
		c := good
		tt.mutate(&c)
		if err := c.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if _, err := New(c); (err == nil) != tt.ok {
			t.Errorf("%s: New() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestTensors(t *testing.T) {
	for _, tied := range []bool{false, true} {
		m := newTiny(t, tied, 1)
		c := m.Config
		want := map[string][]int{
			"token_embd.weight":        {c.Dim, c.Vocab},
			"blk.1.attn_norm.weight":   {c.Dim},
			"blk.1.attn_q.weight":      {c.Dim, c.Dim},
			"blk.1.attn_k.weight":      {c.Dim, 8},
			"blk.1.attn_v.weight":      {c.Dim, 8},
			"blk.1.attn_output.weight": {c.Dim, c.Dim},
			"blk.0.ffn_norm.weight":    {c.Dim},
			"blk.0.ffn_gate.weight":    {c.Dim, c.Hidden},
			"blk.0.ffn_up.weight":      {c.Dim, c.Hidden},
			"blk.0.ffn_down.weight":    {c.Hidden, c.Dim},
			"output_norm.weight":       {c.Dim},
		}
		if !tied {
			want["output.weight"] = []int{c.Dim, c.Vocab}
		}
		total := 0
		for _, p := range m.Tensors() {
			n := 1
			for _, s := range p.Shape {
				n *= s
			}
			if n != len(p.Data) {
				t.Errorf("%s: shape %v but %d values", p.Name, p.Shape, len(p.Data))
			}
			total += n
		}
		if total != m.NumParams() {
			t.Errorf("NumParams = %d, tensors hold %d", m.NumParams(), total)
		}
		if got, wantN := len(m.Tensors()), 1+9*c.Layers+1+map[bool]int{false: 1, true: 0}[tied]; got != wantN {
			t.Errorf("tied=%v: %d tensors, want %d", tied, got, wantN)
		}
		for name, shape := range want {
			p, ok := m.Tensor(name)
			if !ok {
				t.Errorf("tied=%v: missing %s", tied, name)
				continue
			}
			if len(p.Shape) != len(shape) || p.Shape[0] != shape[0] || (len(shape) > 1 && p.Shape[1] != shape[1]) {
				t.Errorf("%s: shape %v, want %v", name, p.Shape, shape)
			}
		}
		if _, ok := m.Tensor("output.weight"); ok == tied {
			t.Errorf("tied=%v: output.weight present = %v", tied, ok)
		}
	}
}

// checkLogits fails t unless m's logits of a short sequence match the reference forward within 1e-4.
func checkLogits(t *testing.T, name string, m *Model) {
	t.Helper()
	tokens := []int32{1, 5, 3, 9, 0, 10, 2, 2, 7}
	got, err := m.Logits(tokens, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := refLogits(m, tokens, nil)
	v := m.Config.Vocab
	for i := range tokens {
		for j := range v {
			if d := math.Abs(float64(got[i*v+j]) - want[i][j]); d > 1e-4 {
				t.Fatalf("%s: logit [%d][%d] = %v, reference %v", name, i, j, got[i*v+j], want[i][j])
			}
		}
	}
}

func TestLogitsMatchReference(t *testing.T) {
	for _, tied := range []bool{false, true} {
		checkLogits(t, fmt.Sprintf("tied=%v", tied), newTiny(t, tied, 7))
	}
}

func TestLogitsErrors(t *testing.T) {
	m := newTiny(t, false, 1)
	tests := []struct {
		name   string
		tokens []int32
	}{
		{"empty", nil},
		{"negative id", []int32{1, -1}},
		{"id past vocab", []int32{11}},
		{"too long", make([]int32, 33)},
	}
	for _, tt := range tests {
		if _, err := m.Logits(tt.tokens, nil); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

func TestHiddenProjectsToLogits(t *testing.T) {
	m := newTiny(t, true, 9)
	tokens := []int32{4, 8, 10, 5, 1}
	h, err := m.Hidden(tokens, nil)
	if err != nil {
		t.Fatal(err)
	}
	z, err := m.Logits(tokens, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := m.Config
	if len(h) != len(tokens)*c.Dim {
		t.Fatalf("hidden has %d values, want %d", len(h), len(tokens)*c.Dim)
	}
	for r := range tokens {
		for v := range c.Vocab {
			var s float64
			for i := range c.Dim {
				s += float64(h[r*c.Dim+i]) * float64(m.tokEmbd.Data[v*c.Dim+i])
			}
			if math.Abs(s-float64(z[r*c.Vocab+v])) > 1e-4 {
				t.Fatalf("row %d token %d: hidden·embedding %v, logit %v", r, v, s, z[r*c.Vocab+v])
			}
		}
	}
	if _, err := m.Hidden(nil, nil); err == nil {
		t.Error("Hidden accepted no tokens")
	}
}
