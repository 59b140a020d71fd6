package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
)

// TestFlopModel checks the FLOP count against one done by hand, and the prediction against kernels of a
// known speed.
func TestFlopModel(t *testing.T) {
	c := llama.Config{Vocab: 10, Dim: 4, Hidden: 8, Layers: 1, Heads: 2, KVHeads: 1, ContextLength: 16,
		RopeBase: 10000, NormEps: 1e-5}
	f := newFlopModel(c, 1, 3, 2)
	// Projections: q 16, k 8, v 8, o 16, gate 32, up 32, down 32 = 144 weights; output 40; 184 in all.
	// Attention forward: 4·QDim(4)·mean keys (3+1)/2 = 32 per token; backward twice that.
	// LoRA: 6·rank·Σ(in+out) = 12·(8+6+6+8+12+12+12) = 768.
	want := map[string]float64{"forward": 2*184 + 32, "input": 2*184 + 64, "lora": 768, "attention": 96,
		"total": 400 + 432 + 768}
	got := map[string]float64{"forward": f.Forward, "input": f.InputGrad, "lora": f.LoRA, "attention": f.Attention,
		"total": f.Total}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s FLOPs per token = %v, want %v", k, got[k], v)
		}
	}
	shapes := f.shapes()
	if len(shapes) != 10 { // (4→4: q, o), (4→2: k, v), (4→8: gate, up), (8→4: down), output; forward and dx each
		t.Fatalf("%d products, want 10: %v", len(shapes), shapes)
	}
	var sum float64
	for _, w := range f.weights {
		sum += w
	}
	if want := 2 * 2 * 3 * 184.0; sum != want { // forward and dx of every weight, 3 rows
		t.Errorf("products weigh %v FLOPs per step, want %v", sum, want)
	}
	var rounds []realRound
	for range 3 {
		var r realRound
		for _, s := range shapes {
			r.GoSgemm = append(r.GoSgemm, sgemmResult{Name: s.Name, GFLOPS: []float64{100}})
		}
		r.GoTrain = []float64{1e7}
		rounds = append(rounds, r)
	}
	f.fill(rounds)
	if math.Abs(f.GFLOPS-100) > 1e-9 || math.Abs(f.Predicted-100e9/1600) > 1e-3 || f.Measured != 1e7 {
		t.Errorf("GFLOPS %v, predicted %v, measured %v", f.GFLOPS, f.Predicted, f.Measured)
	}
}

// TestShapes checks the published shapes' sizes: what the report's parameter counts rest on.
func TestShapes(t *testing.T) {
	for _, tc := range []struct {
		name string
		lo   float64 // billions of parameters, within 5%
	}{
		{"qwen3-0.6b", 0.596}, {"llama3.2-1b", 1.236}, {"gemma3-1b", 1.0}, {"qwen3-4b", 4.02},
	} {
		s, err := findShape(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Config.Validate(); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if p := float64(params(s.Config)) / 1e9; math.Abs(p/tc.lo-1) > 0.05 {
			t.Errorf("%s: %.3f B parameters, want about %.3f B", tc.name, p, tc.lo)
		}
	}
	if _, err := findShape("no-such-model"); err == nil {
		t.Error("unknown shape accepted")
	}
}

// TestWriteShapeGGUF writes a small shape through the streaming path and loads it back with the engine.
func TestWriteShapeGGUF(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the llama-3.2 vocabulary")
	}
	s := realShape{Name: "tiny", Config: llama.Config{Arch: llama.ArchQwen3, Vocab: 151936, Dim: 64, Hidden: 128,
		Layers: 3, Heads: 4, KVHeads: 2, KeyLength: 32, ContextLength: 256, RopeBase: 1e6, NormEps: 1e-6,
		TiedOutput: true}}
	path := filepath.Join(t.TempDir(), "tiny.gguf")
	if err := writeShapeGGUF(context.Background(), path, s); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n, err := f.Meta.Uint32("qwen3.block_count"); err != nil || n != 3 {
		t.Errorf("block_count %d, %v; want 3", n, err)
	}
	var raws [][]byte
	for _, name := range []string{"blk.0.ffn_up.weight", "blk.1.ffn_up.weight", "blk.2.ffn_up.weight"} {
		ti, ok := f.Tensor(name)
		if !ok || ti.Type != gguf.TypeF16 {
			t.Fatalf("%s: %v %v", name, ok, ti.Type)
		}
		b, err := f.Raw(name)
		if err != nil {
			t.Fatal(err)
		}
		raws = append(raws, b)
	}
	if bytes.Equal(raws[0], raws[1]) || bytes.Equal(raws[1], raws[2]) {
		t.Error("blocks share their weights")
	}
	m, err := weights.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.Layers != 3 || m.Config.Vocab != 151936 || m.Tokenizer.Size() != 151936 {
		t.Errorf("loaded %d layers, vocab %d, tokenizer %d", m.Config.Layers, m.Config.Vocab, m.Tokenizer.Size())
	}
	if _, _, err := m.LogLikelihood([]int32{1}, []int32{2, 3}, nil); err != nil {
		t.Error(err)
	}
}

func TestParseRealFlags(t *testing.T) {
	o, err := parseRealFlags(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.models) != len(realShapes) || o.batch != 4 || o.seq != 256 || o.rank != 16 || o.roundExamples != 100 {
		t.Errorf("defaults: %+v", o)
	}
	if o, err := parseRealFlags([]string{"-models", "llama3.2-1b, qwen3-4b", "-forward", ""}, &bytes.Buffer{}); err != nil ||
		!slices.Equal(o.models, []string{"llama3.2-1b", "qwen3-4b"}) || len(o.forward) != 0 {
		t.Errorf("lists: %+v, %v", o, err)
	}
	if o, err := parseRealFlags([]string{"-recompute", "-mem-limit-mib", "4096"}, &bytes.Buffer{}); err != nil ||
		!o.worker.recompute || o.worker.memLimitMiB != 4096 {
		t.Errorf("memory settings: %+v, %v", o, err)
	}
	if o, err := parseRealFlags([]string{"-no-train"}, &bytes.Buffer{}); err != nil || !o.noTrain {
		t.Errorf("-no-train: %+v, %v", o, err)
	}
	for _, args := range [][]string{
		{"-mem-limit-mib", "-1"},
		{"-models", "gpt-5"},
		{"-rounds", "0"},
		{"-seq", "1"},
		{"-round-examples", "0"},
		{"stray"},
	} {
		if _, err := parseRealFlags(args, &bytes.Buffer{}); err == nil {
			t.Errorf("parseRealFlags(%q) succeeded", args)
		}
	}
}

// TestCopyFile: the copy has the source's bytes; a failed copy leaves the destination as it was.
func TestCopyFile(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src.gguf"), filepath.Join(dir, "dst.gguf")
	want := bytes.Repeat([]byte("gguf"), 1<<16)
	if err := os.WriteFile(src, want, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(src, dst); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("copy has %d bytes (%v), want %d", len(got), err, len(want))
	}
	if err := copyFile(filepath.Join(dir, "missing"), dst); err == nil {
		t.Fatal("copying a missing file succeeded")
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, want) {
		t.Fatal("a failed copy changed the destination")
	}
}
