package parity_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/internal/hffixture"
	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/peft"
)

// TestPEFTAdapterParity deploys the PEFT adapters PyTorch wrote (weights/peft/testdata, a tiny llama and a
// tiny qwen2 whose logits the engine matches within 1e-4 of PyTorch's) through Ollama: imported with
// peft.Import, saved as a GGUF LoRA and created on the base, the served model's greedy continuations equal
// the engine's.
func TestPEFTAdapterParity(t *testing.T) {
	c := ollamatest.Client(t)
	ctx := context.Background()
	tok, err := tinymodel.Tokenizer(ctx, 384)
	if err != nil {
		t.Fatal(err)
	}
	for _, arch := range hffixture.Archs {
		t.Run(arch, func(t *testing.T) {
			f, err := hffixture.Load(arch)
			if err != nil {
				t.Fatal(err)
			}
			if tok.Size() != f.Model.Config.Vocab {
				t.Fatalf("tiny vocabulary has %d tokens, the fixture %d", tok.Size(), f.Model.Config.Vocab)
			}
			dir := t.TempDir()
			basePath := filepath.Join(dir, "base.gguf")
			if err := weights.Save(basePath, f.Model, tok, weights.SaveOptions{Name: "tiny-hf-" + arch}); err != nil {
				t.Fatal(err)
			}
			m := load(t, basePath)
			a, format, err := peft.Import(f.AdapterDir, m.Model)
			if err != nil {
				t.Fatal(err)
			}
			if format != peft.FormatPEFT {
				t.Fatalf("format %s", format)
			}
			base := create(t, c, basePath, ollama.CreateOptions{})
			compare(t, base.withAdapter(t, a, "peft-"+arch, "fastslow-parity-peft"), m, a, f32Margin)
			if !changes(t, m, a) {
				t.Fatal("the imported adapter changes no continuation: the comparison proves nothing")
			}
		})
	}
}
