package parity_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
)

// TestMergedParity folds a LoRA adapter into a base Ollama quantized to Q4_K_M (Q4_K, Q6_K and F16
// matrices), creates the merged GGUF as a model with the base's settings, and checks that the server
// continues every prompt, and reaches the final hidden state, exactly as our engine does on the merged
// weights it predicted (weights.Merged.Model, computing as the runner does): the engine scores what is
// served. Each adapted tensor is written in its own type, and, with the f16 merged type, as F16.
func TestMergedParity(t *testing.T) {
	if testing.Short() {
		t.Skip("about 20 s against Ollama")
	}
	c := ollamatest.Client(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "base-f16.gguf")
	if _, _, err := tinymodel.WriteShape(context.Background(), path, quantShape, 34, 0.08, gguf.TypeF16); err != nil {
		t.Fatal(err)
	}
	q := quantize(t, c, path, "q4_K_M", gguf.TypeQ4_K)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	basePath, err := c.ResolveGGUF(ctx, q.model)
	if err != nil {
		t.Fatal(err)
	}
	a := adapterAll(t, q.m.Model, false)
	for _, mt := range []weights.MergedType{weights.MergedSame, weights.MergedF16} {
		t.Run(string(mt), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "merged.gguf")
			m, err := weights.Merge(ctx, q.m, basePath, a, out, weights.MergeOptions{Type: mt})
			if err != nil {
				t.Fatal(err)
			}
			types := map[gguf.Type]int{}
			for _, mt := range m.Tensors {
				types[mt.Type]++
			}
			t.Logf("merged %d tensors %v; %.1f%% of the update kept; float32 logits %.3g from base + adapter",
				len(m.Tensors), types, 100*m.Retained(), m.Drift)
			name := ollamatest.UniqueName(t, "fastslow-parity-merged")
			if err := c.CreateMerged(ctx, name, q.model, out); err != nil {
				t.Fatal(err)
			}
			s := served{c, name}
			m.Model.Precision = runner(t)
			compare(t, s, m.Model, nil, 0)
			hiddenEqual(t, s, m.Model)
		})
	}
}
