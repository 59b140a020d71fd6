package peft_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/fastslow/fastslow/internal/hffixture"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/peft"
)

// sameBits fails unless a and b have the same tensors, scale and bits.
func sameBits(t *testing.T, a, b *llama.Adapter) {
	t.Helper()
	if a.Scale() != b.Scale() || a.Config.Rank != b.Config.Rank {
		t.Fatalf("scale %g rank %d, want %g %d", b.Scale(), b.Config.Rank, a.Scale(), a.Config.Rank)
	}
	ap, bp := a.Params(), b.Params()
	if len(ap) != len(bp) {
		t.Fatalf("%d tensors, want %d", len(bp), len(ap))
	}
	for i := range ap {
		if ap[i].Name != bp[i].Name {
			t.Fatalf("tensor %d is %s, want %s", i, bp[i].Name, ap[i].Name)
		}
		for j := range ap[i].Data {
			if math.Float32bits(ap[i].Data[j]) != math.Float32bits(bp[i].Data[j]) {
				t.Fatalf("%s[%d] = %g, want %g", ap[i].Name, j, bp[i].Data[j], ap[i].Data[j])
			}
		}
	}
}

// TestExportImportRoundTrip exports adapters as PEFT directories and imports them again: the same bits, and
// a second export writes byte-identical files.
func TestExportImportRoundTrip(t *testing.T) {
	for _, arch := range hffixture.Archs {
		t.Run(arch, func(t *testing.T) {
			f, err := hffixture.Load(arch)
			if err != nil {
				t.Fatal(err)
			}
			imported, cfg, err := peft.Load(f.AdapterDir, f.Model)
			if err != nil {
				t.Fatal(err)
			}
			// A fresh adapter with every matrix random (B is zero after NewAdapter) and alpha not a multiple of r.
			fresh, err := llama.NewAdapter(f.Model, llama.LoRAConfig{Rank: 3, Alpha: 7.3, Targets: []string{"q_proj", "k_proj", "ffn_up"}}, 5)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range fresh.Params() {
				for j := range p.Data {
					p.Data[j] = float32(math.Sin(float64(13*i+j))) / 3
				}
			}
			for name, a := range map[string]*llama.Adapter{"imported": imported, "fresh": fresh} {
				dir1, dir2 := filepath.Join(t.TempDir(), "one"), filepath.Join(t.TempDir(), "two")
				if err := peft.Save(dir1, a, f.Model, peft.SaveOptions{BaseModel: "tiny-" + arch, Config: &cfg}); err != nil {
					t.Fatal(err)
				}
				b, _, err := peft.Load(dir1, f.Model)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				sameBits(t, a, b)
				if err := peft.Save(dir2, b, f.Model, peft.SaveOptions{BaseModel: "tiny-" + arch, Config: &cfg}); err != nil {
					t.Fatal(err)
				}
				for _, file := range []string{peft.ConfigFile, peft.WeightsFile} {
					x, _ := os.ReadFile(filepath.Join(dir1, file))
					y, _ := os.ReadFile(filepath.Join(dir2, file))
					if len(x) == 0 || !bytes.Equal(x, y) {
						t.Errorf("%s: %s differs between export, import, export (%d and %d bytes)", name, file, len(x), len(y))
					}
				}
			}
		})
	}
}

// TestImportGGUF imports the fixture adapters as llama.cpp's convert_lora_to_gguf.py writes them (names
// blk.N.*.weight.lora_a/lora_b, q/k rows of llama's lora_b permuted, adapter.lora.alpha, F32 or BF16 tensors)
// and checks the engine's logits against PyTorch's.
func TestImportGGUF(t *testing.T) {
	for _, tt := range []struct {
		arch string
		typ  gguf.Type
	}{{llama.ArchLlama, gguf.TypeF32}, {llama.ArchQwen2, gguf.TypeBF16}} {
		t.Run(tt.arch, func(t *testing.T) {
			f, err := hffixture.Load(tt.arch)
			if err != nil {
				t.Fatal(err)
			}
			ref, _, err := peft.Load(f.AdapterDir, f.Model)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "lora.gguf")
			writeConverterGGUF(t, path, tt.arch, ref, tt.typ)
			a, format, err := peft.Import(path, f.Model)
			if err != nil {
				t.Fatal(err)
			}
			if format != peft.FormatGGUF {
				t.Fatalf("format %s", format)
			}
			sameBits(t, ref, a) // the BF16 fixture values survive a BF16 GGUF exactly
			got, err := f.Model.Logits(f.Tokens, a)
			if err != nil {
				t.Fatal(err)
			}
			if e := relErr(got, f.Logits); e > relTol {
				t.Errorf("logits differ from PyTorch's by %.3g relative", e)
			}
		})
	}
}

// writeConverterGGUF writes a's tensors with the metadata convert_lora_to_gguf.py writes.
func writeConverterGGUF(t *testing.T, path, arch string, a *llama.Adapter, typ gguf.Type) {
	t.Helper()
	w := gguf.NewWriter()
	for _, kv := range []gguf.KV{
		{Key: "general.architecture", Value: arch},
		{Key: "general.type", Value: "adapter"},
		{Key: "adapter.type", Value: "lora"},
		{Key: "general.name", Value: "Tiny Lora"},
		{Key: "general.file_type", Value: uint32(map[gguf.Type]uint32{gguf.TypeF32: 0, gguf.TypeBF16: 32}[typ])},
		{Key: "general.quantization_version", Value: uint32(2)},
		{Key: "adapter.lora.alpha", Value: a.Scale() * float32(a.Config.Rank)},
	} {
		if err := w.Set(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range a.Params() {
		shape := []uint64{uint64(p.Shape[0]), uint64(p.Shape[1])}
		if err := w.AddTensor(p.Name, typ, shape, p.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
}
