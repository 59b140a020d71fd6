package weights_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
)

// TestLoadQwen3Gemma3 saves a qwen3 and a gemma3 model (heads wider than dim/heads; gemma3 with a sliding
// window, a local RoPE base, linear scaling and a logit softcap) and loads them back: the config, every
// tensor and the logits must survive.
func TestLoadQwen3Gemma3(t *testing.T) {
	tok, err := tinymodel.Tokenizer(t.Context(), 300)
	if err != nil {
		t.Fatal(err)
	}
	qwen3 := tinymodel.Qwen3Config(tok.Size())
	qwen3.Dim, qwen3.Hidden, qwen3.KeyLength = 32, 48, 16
	gemma3 := tinymodel.Gemma3Config(tok.Size())
	gemma3.Dim, gemma3.Hidden, gemma3.KeyLength, gemma3.FinalLogitSoftcap = 32, 48, 16, 30
	for _, c := range []llama.Config{qwen3, gemma3} {
		t.Run(c.Arch, func(t *testing.T) {
			m, err := tinymodel.NewArch(c, 3, 0.2)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "m.gguf")
			if err := weights.Save(path, m, tok, weights.SaveOptions{}); err != nil {
				t.Fatal(err)
			}
			got := loadSame(t, path, m.Config)
			for _, p := range m.Tensors() {
				q, ok := got.Tensor(p.Name)
				if !ok || !slices.Equal(p.Data, q.Data) {
					t.Fatalf("%s differs after the round trip", p.Name)
				}
			}
			ids := tok.Encode("Alia Brenn was born in Veltmor", true)
			sameLogits(t, m, got, ids)
		})
	}
}

// TestLoadRefusesGemma3Variants checks the gemma3 files the engine does not run: a layer pattern other than
// Ollama's every-sixth-global, the 62-block model (queries scaled differently), and unequal key and value
// widths.
func TestLoadRefusesGemma3Variants(t *testing.T) {
	tok, err := tinymodel.Tokenizer(t.Context(), 300)
	if err != nil {
		t.Fatal(err)
	}
	c := tinymodel.Gemma3Config(tok.Size())
	c.Dim, c.Hidden, c.KeyLength = 32, 48, 16
	tests := []struct {
		name   string
		layers int
		extra  []gguf.KV
		want   string
	}{
		{"pattern", 6, []gguf.KV{{Key: "gemma3.attention.sliding_window_pattern", Value: []bool{true, false, true, true, true, false}}}, "every sixth layer"},
		{"27B", 62, nil, "62 blocks"},
		{"value length", 6, []gguf.KV{{Key: "gemma3.attention.value_length", Value: uint32(8)}}, "equal key and value widths"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := c
			c.Layers = tt.layers
			m, err := tinymodel.NewArch(c, 1, 0.1)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "m.gguf")
			if err := weights.Save(path, m, tok, weights.SaveOptions{Extra: tt.extra}); err != nil {
				t.Fatal(err)
			}
			if _, err := weights.Load(path); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
