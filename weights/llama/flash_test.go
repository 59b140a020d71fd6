package llama

import (
	"math"
	"slices"
	"testing"
)

// TestFlashAttentionClose checks the flash-attention emulation against the plain attention: the same
// function up to float16 accumulation, so logits agree to about 1e-2, on every architecture (gemma3's
// sliding window included).
func TestFlashAttentionClose(t *testing.T) {
	tokens := []int32{1, 5, 3, 9, 0, 10, 2, 2, 7, 4}
	for name, c := range archVariants() {
		m := newTinyConfig(t, c, 5)
		m.Precision = Precision{KVCacheF16: true}
		want, err := m.Logits(tokens, nil)
		if err != nil {
			t.Fatal(err)
		}
		m.Precision.FlashAttention = true
		got, err := m.Logits(tokens, nil)
		if err != nil {
			t.Fatal(err)
		}
		var worst float64
		for i := range got {
			worst = max(worst, math.Abs(float64(got[i]-want[i])))
		}
		if worst > 2e-2 || worst == 0 {
			t.Errorf("%s: flash attention moves logits by %g, want (0, 2e-2]", name, worst)
		}
	}
}

// TestPlaceWraps follows Ollama's sliding-window cache (window 3) through a prompt of 5 positions and
// generated ones: positions below p−3 are freed before each batch and new ones take the lowest free cell.
func TestPlaceWraps(t *testing.T) {
	var c kvCache
	c.place(0, 5, 3) // cells 0..4
	for p := 5; p < 9; p++ {
		c.place(p, 1, 3)
	}
	// Position 5 frees 0 and 1 (below 2) and takes cell 0; 6 frees 2, takes 1; 7 frees 3, takes 2; 8 frees
	// 4, takes 3.
	if want := []int{0, 1, 2, 3, 4, 0, 1, 2, 3}; !slices.Equal(c.cellOf, want) {
		t.Errorf("cells %v, want %v", c.cellOf, want)
	}
}

// TestStepLogitsMatchGenerate checks that StepLogits follows Generate's decoding: the argmax of each row is
// the next greedy token.
func TestStepLogitsMatchGenerate(t *testing.T) {
	m := newTinyConfig(t, archVariants()["gemma3"], 11)
	m.Precision = Precision{KVCacheF16: true, FlashAttention: true}
	prompt := []int32{1, 2, 3}
	out, err := m.Generate(t.Context(), prompt, 8, Sampler{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := m.StepLogits(t.Context(), prompt, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(out)+1 {
		t.Fatalf("%d rows for %d tokens", len(rows), len(out))
	}
	for i, tok := range out {
		if got := argmax(rows[i]); got != tok {
			t.Errorf("step %d: argmax %d, Generate chose %d", i, got, tok)
		}
	}
}
