package llama

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// archVariants are the network variants the package runs, each checked against the float64 reference and
// finite differences: llama-3 style RoPE (frequency factors and linear scaling), qwen2 (q/k/v biases,
// NEOX RoPE), qwen3 (head norms, heads wider than Dim/Heads) and gemma3 (six layers: five sliding-window
// ones with a window of 3 and their own RoPE base, one global with linear scaling; head and post norms,
// GELU, scaled embeddings and queries, a logit softcap), with a tied output.
func archVariants() map[string]Config {
	llama3 := tinyConfig(true)
	llama3.RopeFreqFactors = true
	llama3.RopeScale = 2
	qwen2 := tinyConfig(true)
	qwen2.Arch = ArchQwen2
	qwen3 := tinyConfig(true)
	qwen3.Arch, qwen3.KeyLength, qwen3.RopeBase = ArchQwen3, 6, 1e6
	gemma3 := tinyConfig(true)
	gemma3.Arch, gemma3.KeyLength, gemma3.Layers = ArchGemma3, 8, 6
	gemma3.SlidingWindow, gemma3.RopeLocalBase, gemma3.RopeBase, gemma3.RopeScale = 3, 100, 1e4, 8
	gemma3.FinalLogitSoftcap = 3
	return map[string]Config{"llama3": llama3, "qwen2": qwen2, "qwen3": qwen3, "gemma3": gemma3}
}

func TestArchTensors(t *testing.T) {
	tests := []struct {
		arch   string
		freqs  bool
		biases bool
	}{
		{ArchLlama, false, false},
		{"", true, false},
		{ArchQwen2, false, true},
	}
	for _, tt := range tests {
		c := tinyConfig(true)
		c.Arch, c.RopeFreqFactors = tt.arch, tt.freqs
		m := newTinyConfig(t, c, 1)
		_, hasBias := m.Tensor("blk.1.attn_k.bias")
		if hasBias != tt.biases {
			t.Errorf("%q: attn_k.bias present = %v", tt.arch, hasBias)
		}
		if tt.biases {
			for _, name := range []string{"blk.0.attn_q.bias", "blk.0.attn_k.bias", "blk.0.attn_v.bias"} {
				p, ok := m.Tensor(name)
				if !ok {
					t.Fatalf("missing %s", name)
				}
				if want := map[bool]int{true: c.Dim, false: c.KVHeads * c.HeadDim()}[name == "blk.0.attn_q.bias"]; !slices.Equal(p.Shape, []int{want}) {
					t.Errorf("%s: shape %v, want [%d]", name, p.Shape, want)
				}
				if slices.Max(p.Data) == slices.Min(p.Data) {
					t.Errorf("%s: InitRandom left it constant", name)
				}
			}
		}
		f, ok := m.Tensor("rope_freqs.weight")
		if ok != tt.freqs || len(m.Constants()) != map[bool]int{true: 1}[tt.freqs] {
			t.Errorf("%q: rope_freqs present = %v, %d constants", tt.arch, ok, len(m.Constants()))
		}
		if ok && !slices.Equal(f.Shape, []int{c.HeadDim() / 2}) {
			t.Errorf("rope_freqs shape %v", f.Shape)
		}
		for _, p := range m.Tensors() {
			if p.Name == "rope_freqs.weight" {
				t.Error("rope_freqs is listed as a trained tensor")
			}
		}
	}
	bad := tinyConfig(false)
	bad.Arch = "mamba"
	if _, err := New(bad); err == nil {
		t.Error("New accepted architecture mamba")
	}
}

func TestArchLogitsMatchReference(t *testing.T) {
	for name, c := range archVariants() {
		checkLogits(t, name, newTinyConfig(t, c, 7))
	}
}

// TestArchFeaturesMatter makes sure each feature changes the output, so the reference comparison above
// cannot pass with the feature ignored on both sides.
func TestArchFeaturesMatter(t *testing.T) {
	tokens := []int32{1, 5, 3, 9, 0, 10}
	logits := func(c Config, edit func(*Model)) []float32 {
		m := newTinyConfig(t, c, 7)
		if edit != nil {
			edit(m)
		}
		z, err := m.Logits(tokens, nil)
		if err != nil {
			t.Fatal(err)
		}
		return z
	}
	qwen := archVariants()["qwen2"]
	llamaSame := qwen
	llamaSame.Arch = ArchLlama
	zeroBias := func(m *Model) {
		for _, l := range m.layers {
			clear(l.bq.Data)
			clear(l.bk.Data)
			clear(l.bv.Data)
		}
	}
	if slices.Equal(logits(qwen, zeroBias), logits(llamaSame, nil)) {
		t.Error("qwen2 without biases equals llama: NEOX RoPE has no effect")
	}
	if slices.Equal(logits(qwen, nil), logits(qwen, zeroBias)) {
		t.Error("qwen2 biases have no effect")
	}
	l3 := archVariants()["llama3"]
	plain := l3
	plain.RopeScale = 0
	if slices.Equal(logits(l3, nil), logits(plain, nil)) {
		t.Error("RopeScale has no effect")
	}
	ones := func(m *Model) {
		for i := range m.ropeFreqs.Data {
			m.ropeFreqs.Data[i] = 1
		}
	}
	noFactors := plain
	noFactors.RopeFreqFactors = false
	if !slices.Equal(logits(plain, ones), logits(noFactors, nil)) {
		t.Error("frequency factors of 1 change the output")
	}
	if slices.Equal(logits(plain, nil), logits(noFactors, nil)) {
		t.Error("frequency factors have no effect")
	}

	// qwen3 and gemma3: each norm, the window, the local base and the softcap change the output.
	for _, name := range []string{"qwen3", "gemma3"} {
		c := archVariants()[name]
		base := logits(c, nil)
		norms := []string{"attn_q_norm", "attn_k_norm"}
		if name == "gemma3" {
			norms = append(norms, "post_attention_norm", "post_ffw_norm")
		}
		for _, norm := range norms {
			ones := func(m *Model) {
				for l := range m.layers {
					p, _ := m.Tensor(fmt.Sprintf("blk.%d.%s.weight", l, norm))
					for i := range p.Data {
						p.Data[i] = 1 + 0.5*float32(i%3)
					}
				}
			}
			if slices.Equal(base, logits(c, ones)) {
				t.Errorf("%s: %s has no effect", name, norm)
			}
		}
	}
	g := archVariants()["gemma3"]
	for what, edit := range map[string]func(*Config){
		"sliding window":    func(c *Config) { c.SlidingWindow = 0 },
		"local rope base":   func(c *Config) { c.RopeLocalBase = 0 },
		"global rope scale": func(c *Config) { c.RopeScale = 0 },
		"softcap":           func(c *Config) { c.FinalLogitSoftcap = 0 },
	} {
		c := g
		edit(&c)
		if slices.Equal(logits(g, nil), logits(c, nil)) {
			t.Errorf("gemma3: the %s has no effect", what)
		}
	}
}

func TestArchGrad(t *testing.T) {
	for name, c := range archVariants() {
		t.Run(name, func(t *testing.T) {
			m := newTinyConfig(t, c, 3)
			a := randomAdapter(t, m)
			loss, _, err := m.LossAndGrad(context.Background(), gradSeqs, a, true)
			if err != nil {
				t.Fatal(err)
			}
			checkLossAndGrads(t, m, a, loss, rand.New(rand.NewPCG(5, 5)))
		})
	}
}

func TestArchGenerateMatchesFullForward(t *testing.T) {
	for name, c := range archVariants() {
		m := newTinyConfig(t, c, 11)
		prompt := []int32{1, 2, 3}
		out, err := m.Generate(context.Background(), prompt, 12, Sampler{}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		seq := slices.Clone(prompt)
		for i, tok := range out {
			if want := lastArgmax(t, m, seq, nil); tok != want {
				t.Fatalf("%s step %d: cached decoding chose %d, full forward %d", name, i, tok, want)
			}
			seq = append(seq, tok)
		}
	}
}

func TestAdapterArchitecture(t *testing.T) {
	q := newTinyConfig(t, archVariants()["qwen2"], 1)
	a, err := NewAdapter(q, LoRAConfig{Rank: 2, Targets: []string{"attn_q"}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Architecture(); got != ArchQwen2 {
		t.Errorf("Architecture() = %q", got)
	}
	l := newTiny(t, true, 1) // same shapes, other architecture
	if _, err := l.Logits([]int32{1, 2}, a); err == nil {
		t.Error("a qwen2 adapter ran on a llama model")
	}
	b, err := NewAdapter(l, LoRAConfig{Rank: 2, Targets: []string{"attn_q"}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Architecture(); got != ArchLlama {
		t.Errorf("Architecture() = %q, want llama for an empty Config.Arch", got)
	}
}
