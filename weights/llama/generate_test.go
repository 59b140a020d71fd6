package llama

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"
)

// lastArgmax returns the greedy choice after tokens by a full forward pass without cache.
func lastArgmax(t *testing.T, m *Model, tokens []int32, a *Adapter) int32 {
	t.Helper()
	z, err := m.Logits(tokens, a)
	if err != nil {
		t.Fatal(err)
	}
	v := m.Config.Vocab
	return argmax(z[(len(tokens)-1)*v:])
}

func TestGenerateMatchesFullForward(t *testing.T) {
	m := newTiny(t, false, 11)
	a, err := NewAdapter(m, LoRAConfig{Rank: 2, Alpha: 4, Targets: []string{"attn_q", "attn_v", "ffn_down"}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	randomizeAdapter(a, 3)
	prompt := []int32{1, 2, 3}
	for _, ad := range []*Adapter{nil, a} {
		out, err := m.Generate(context.Background(), prompt, 20, Sampler{}, nil, ad)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != 20 {
			t.Fatalf("generated %d tokens, want 20", len(out))
		}
		seq := slices.Clone(prompt)
		for i, tok := range out {
			if want := lastArgmax(t, m, seq, ad); tok != want {
				t.Fatalf("adapter=%v step %d: cached decoding chose %d, full forward %d", ad != nil, i, tok, want)
			}
			seq = append(seq, tok)
		}
	}
}

func TestGenerateStopsAndSamples(t *testing.T) {
	m := newTiny(t, false, 11)
	prompt := []int32{4, 4}
	greedy, err := m.Generate(context.Background(), prompt, 10, Sampler{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := greedy[3]
	cut := slices.Index(greedy, stop)
	got, err := m.Generate(context.Background(), prompt, 10, Sampler{}, []int32{stop}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, greedy[:cut]) {
		t.Errorf("with stop %d got %v, want %v", stop, got, greedy[:cut])
	}

	s := Sampler{Temperature: 1.5, TopP: 0.9, Seed: 42}
	x, err := m.Generate(context.Background(), prompt, 12, s, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	y, err := m.Generate(context.Background(), prompt, 12, s, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(x, y) {
		t.Errorf("same seed, different samples: %v and %v", x, y)
	}
	s.Seed = 43
	z, err := m.Generate(context.Background(), prompt, 12, s, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(x, z) && slices.Equal(x, greedy[:len(x)]) {
		t.Errorf("sampling at temperature 1.5 looks greedy: %v", x)
	}
}

func TestSamplerTopP(t *testing.T) {
	logits := []float32{0, 5, 4.9, -3}
	// Two tokens hold almost all the mass; top-p 0.5 must keep only the first of them.
	s := Sampler{Temperature: 1, TopP: 0.5}
	rng := newTestRand()
	for range 100 {
		if tok := s.pick(logits, rng); tok != 1 {
			t.Fatalf("top-p 0.5 picked %d, want 1", tok)
		}
	}
	seen := map[int32]bool{}
	s.TopP = 0
	for range 400 {
		seen[s.pick(logits, rng)] = true
	}
	if !seen[1] || !seen[2] || !seen[0] {
		t.Errorf("temperature 1 without top-p saw only %v", seen)
	}
	if got := argmax([]float32{1, 3, 3, 2}); got != 1 {
		t.Errorf("argmax on a tie = %d, want the first (1)", got)
	}
}

func TestGenerateErrors(t *testing.T) {
	m := newTiny(t, false, 1)
	other, err := New(Config{Vocab: 11, Dim: 8, Hidden: 24, Layers: 2, Heads: 4, KVHeads: 2, ContextLength: 32, RopeBase: 1e4, NormEps: 1e-5})
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := NewAdapter(other, LoRAConfig{Rank: 2, Targets: []string{"attn_q"}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		prompt []int32
		max    int
		s      Sampler
		a      *Adapter
	}{
		{"empty prompt", nil, 3, Sampler{}, nil},
		{"bad token", []int32{99}, 3, Sampler{}, nil},
		{"past context", []int32{1, 2}, 31, Sampler{}, nil},
		{"negative max", []int32{1}, -1, Sampler{}, nil},
		{"negative temperature", []int32{1}, 3, Sampler{Temperature: -1}, nil},
		{"top-p above one", []int32{1}, 3, Sampler{TopP: 2}, nil},
		{"adapter for another shape", []int32{1}, 3, Sampler{}, foreign},
	}
	for _, tt := range tests {
		if _, err := m.Generate(context.Background(), tt.prompt, tt.max, tt.s, nil, tt.a); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
	if _, err := m.Logits([]int32{1}, foreign); err == nil {
		t.Error("Logits accepted an adapter for another shape")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Generate(ctx, []int32{1}, 3, Sampler{}, nil, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Generate with a cancelled context: %v", err)
	}
}

func TestAdapterWithZeroBIsIdentity(t *testing.T) {
	m := newTiny(t, true, 5)
	a, err := NewAdapter(m, LoRAConfig{Rank: 4, Alpha: 8, Targets: []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}}, 3)
	if err != nil {
		t.Fatal(err)
	}
	tokens := []int32{3, 1, 4, 1, 5}
	x, err := m.Logits(tokens, nil)
	if err != nil {
		t.Fatal(err)
	}
	y, err := m.Logits(tokens, a)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(x, y) {
		t.Error("adapter with B = 0 changed the logits")
	}
	// and A was initialized: a non-zero B must change them.
	randomizeAdapter(a, 1)
	z, err := m.Logits(tokens, a)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(x, z) {
		t.Error("adapter with random B left the logits unchanged")
	}
}

func TestLoRAConfig(t *testing.T) {
	m := newTiny(t, false, 1)
	tests := []struct {
		name string
		cfg  LoRAConfig
		ok   bool
		want []string
	}{
		{"gguf names", LoRAConfig{Rank: 2, Targets: []string{"attn_v", "attn_q"}}, true, []string{"attn_q", "attn_v"}},
		{"peft names, duplicates", LoRAConfig{Rank: 2, Targets: []string{"q_proj", "attn_q", "down_proj"}}, true, []string{"attn_q", "ffn_down"}},
		{"zero rank", LoRAConfig{Rank: 0, Targets: []string{"attn_q"}}, false, nil},
		{"negative alpha", LoRAConfig{Rank: 2, Alpha: -1, Targets: []string{"attn_q"}}, false, nil},
		{"no targets", LoRAConfig{Rank: 2}, false, nil},
		{"unknown target", LoRAConfig{Rank: 2, Targets: []string{"token_embd"}}, false, nil},
	}
	for _, tt := range tests {
		a, err := NewAdapter(m, tt.cfg, 1)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err = %v, want ok=%v", tt.name, err, tt.ok)
			continue
		}
		if err != nil {
			continue
		}
		if !slices.Equal(a.Config.Targets, tt.want) {
			t.Errorf("%s: targets %v, want %v", tt.name, a.Config.Targets, tt.want)
		}
		if n := len(a.Params()); n != 2*len(tt.want)*m.Config.Layers {
			t.Errorf("%s: %d params", tt.name, n)
		}
	}
	a, err := NewAdapter(m, LoRAConfig{Rank: 4, Alpha: 0, Targets: []string{"ffn_down"}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if a.Scale() != 1 {
		t.Errorf("alpha 0: scale %v, want 1", a.Scale())
	}
	pa, pb := a.Params()[0], a.Params()[1]
	if pa.Name != "blk.0.ffn_down.weight.lora_a" || !slices.Equal(pa.Shape, []int{24, 4}) {
		t.Errorf("lora_a: %s %v", pa.Name, pa.Shape)
	}
	if pb.Name != "blk.0.ffn_down.weight.lora_b" || !slices.Equal(pb.Shape, []int{4, 16}) {
		t.Errorf("lora_b: %s %v", pb.Name, pb.Shape)
	}
	a, _ = NewAdapter(m, LoRAConfig{Rank: 4, Alpha: 16, Targets: []string{"ffn_down"}}, 1)
	if a.Scale() != 4 {
		t.Errorf("alpha 16 rank 4: scale %v, want 4", a.Scale())
	}
}

func TestLogLikelihoodMatchesLogits(t *testing.T) {
	m := newTiny(t, false, 8)
	prompt, completion := []int32{1, 2, 3, 4}, []int32{5, 6, 0}
	sum, n, err := m.LogLikelihood(prompt, completion, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(completion) {
		t.Fatalf("n = %d", n)
	}
	all := append(slices.Clone(prompt), completion...)
	z, err := m.Logits(all, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := m.Config.Vocab
	var want float64
	for i, tok := range completion {
		row := z[(len(prompt)-1+i)*v:][:v]
		var s float64
		for _, x := range row {
			s += math.Exp(float64(x))
		}
		want += float64(row[tok]) - math.Log(s)
	}
	if math.Abs(sum-want) > 1e-5*math.Abs(want) {
		t.Errorf("LogLikelihood = %v, from Logits %v", sum, want)
	}
	// LossAndGrad without anything to train is the same negative sum.
	loss, k, err := m.LossAndGrad(context.Background(), []Sequence{{Tokens: all, Start: len(prompt)}}, nil, false)
	if err != nil || k != n || math.Abs(loss+sum) > 1e-5*math.Abs(sum) {
		t.Errorf("LossAndGrad = %v, %d, %v; want %v, %d", loss, k, err, -sum, n)
	}
	if _, _, err := m.LogLikelihood(nil, completion, nil); err == nil {
		t.Error("empty prompt accepted")
	}
}

func TestLossAndGradErrors(t *testing.T) {
	m := newTiny(t, false, 1)
	tests := []struct {
		name string
		seqs []Sequence
	}{
		{"no sequences", nil},
		{"empty sequence", []Sequence{{Tokens: nil, Start: 1}}},
		{"start zero", []Sequence{{Tokens: []int32{1, 2}, Start: 0}}},
		{"start past end", []Sequence{{Tokens: []int32{1, 2}, Start: 2}}},
		{"bad token", []Sequence{{Tokens: []int32{1, 20}, Start: 1}}},
		{"too long", []Sequence{{Tokens: make([]int32, 40), Start: 1}}},
	}
	for _, tt := range tests {
		if _, _, err := m.LossAndGrad(context.Background(), tt.seqs, nil, true); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := m.LossAndGrad(ctx, gradSeqs, nil, true); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}
