package weights_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
)

// TestGenerateStopsAtEndOfTurn: a chat-like model that would go on after <|im_end|> stops there, while
// stopping at EOS alone would not.
func TestGenerateStopsAtEndOfTurn(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "chain.gguf")
	if _, _, err := tinymodel.WriteChain(ctx, path, llama.ArchLlama, gguf.TypeF16); err != nil {
		t.Fatal(err)
	}
	m, err := weights.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	end := m.Tokenizer.Encode(tinymodel.ChainEnd, false)
	if len(end) != 1 || !slices.Contains(m.EOG, end[0]) || !slices.Contains(m.EOG, m.Tokenizer.EOS()) {
		t.Fatalf("EOG %v lacks EOS %d or %s %v", m.EOG, m.Tokenizer.EOS(), tinymodel.ChainEnd, end)
	}
	prompt := m.Tokenizer.Encode(tinymodel.ChainPrompt, true)
	tests := []struct {
		name string
		gen  func() ([]int32, error)
		want string
	}{
		{"end of generation", func() ([]int32, error) { return m.Generate(ctx, prompt, 8, llama.Sampler{}, nil) }, tinymodel.ChainAnswer},
		{"EOS only", func() ([]int32, error) {
			return m.Model.Generate(ctx, prompt, 8, llama.Sampler{}, []int32{m.Tokenizer.EOS()}, nil)
		}, tinymodel.ChainAnswer + tinymodel.ChainEnd + tinymodel.ChainAfter + strings.Repeat("Z", 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids, err := tt.gen()
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Tokenizer.Decode(ids); got != tt.want {
				t.Errorf("continuation %q, want %q", got, tt.want)
			}
		})
	}
}
