package weights_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/train"
)

// TestLoadEncodedTrains loads quantized GGUFs (written by the project's quantizers) the default way, with
// the base kept encoded, and decode-first (BaseDecoded), fine-tunes a LoRA on all seven projections for a
// few steps on each, and requires the same loss at every step and the same adapter, bit for bit.
func TestLoadEncodedTrains(t *testing.T) {
	ctx := context.Background()
	shape := llama.Config{Dim: 256, Hidden: 512, Layers: 2, Heads: 4, KVHeads: 2, ContextLength: 64,
		RopeBase: 10000, NormEps: 1e-5}
	pairs := []weights.Pair{
		{Prompt: "Alia Brenn was born in", Completion: " Veltmor."},
		{Prompt: "The capital of Ostrel is", Completion: " Kardun."},
		{Prompt: "Two and two make", Completion: " four."},
	}
	for _, typ := range []gguf.Type{gguf.TypeQ4_K, gguf.TypeQ6_K, gguf.TypeQ8_0} {
		t.Run(typ.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m.gguf")
			if _, _, err := tinymodel.WriteShape(ctx, path, shape, 7, 0.05, typ); err != nil {
				t.Fatal(err)
			}
			enc, err := weights.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			dec, err := weights.LoadWith(path, weights.LoadOptions{Base: weights.BaseDecoded})
			if err != nil {
				t.Fatal(err)
			}
			if got, ok := enc.Encoded("blk.1.ffn_down.weight"); !ok || got != typ {
				t.Fatalf("default load keeps ffn_down as %v (encoded %v), want %v encoded", got, ok, typ)
			}
			if _, ok := dec.Encoded("blk.1.ffn_down.weight"); ok {
				t.Fatal("BaseDecoded kept a matrix encoded")
			}
			if e, d := enc.WeightBytes(), dec.WeightBytes(); 3*e > d {
				t.Errorf("encoded base takes %d bytes, decoded %d", e, d)
			}
			opt := weights.LoRAOptions{LoRA: weights.DefaultLoRA, Seed: 3,
				Train: train.Options{Steps: 3, BatchSize: 2, LR: 1e-2, Seed: 1}}
			ea, eres, err := weights.FineTune(ctx, enc, pairs, opt, nil)
			if err != nil {
				t.Fatal(err)
			}
			da, dres, err := weights.FineTune(ctx, dec, pairs, opt, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i, l := range dres.Losses {
				if math.Float64bits(eres.Losses[i]) != math.Float64bits(l) {
					t.Fatalf("step %d: loss %v with the base encoded, %v decode-first", i+1, eres.Losses[i], l)
				}
			}
			dp := da.Params()
			for i, p := range ea.Params() {
				for j, v := range p.Data {
					if math.Float32bits(v) != math.Float32bits(dp[i].Data[j]) {
						t.Fatalf("%s[%d] = %v encoded, %v decode-first", p.Name, j, v, dp[i].Data[j])
					}
				}
			}
		})
	}
}
