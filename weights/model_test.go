package weights_test

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
)

// TestLoadFlavors saves a model of each architecture users bring (a llama-3.2 and a qwen2.5 shape, with
// real vocabularies) and loads it back: the config, every tensor, the tokenizer's behaviour, the chat
// template and the end-of-generation tokens must survive.
func TestLoadFlavors(t *testing.T) {
	tests := []struct {
		flavor   tinymodel.Flavor
		arch     string
		template string
		bos      bool
		eog      []int32
	}{
		// llama 3.2: <|eom_id|> and <|eot_id|> (the EOS); <|end_of_text|> is not an end-of-generation token.
		{tinymodel.Llama32, "llama", tinymodel.Llama32Template, true, []int32{128008, 128009}},
		// qwen2.5: <|endoftext|>, <|im_end|> (the EOS), <|fim_pad|>, <|repo_name|>, <|file_sep|>.
		{tinymodel.Qwen25, "qwen2", tinymodel.Qwen25Template, false, []int32{128000, 128002, 128008, 128009, 128010}},
	}
	for _, tt := range tests {
		t.Run(string(tt.flavor), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m.gguf")
			m, tok, err := tinymodel.WriteFlavor(path, tt.flavor, 1, 0.1, gguf.TypeF32)
			if err != nil {
				t.Fatal(err)
			}
			f, err := gguf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			arch, _ := f.Meta.String("general.architecture")
			_, hasBlockKey := f.Meta.Get(tt.arch + ".block_count")
			f.Close()
			if arch != tt.arch || !hasBlockKey {
				t.Fatalf("saved as %q (with %s.block_count: %v)", arch, tt.arch, hasBlockKey)
			}
			got := loadSame(t, path, m.Config)
			for _, p := range append(m.Tensors(), m.Constants()...) {
				q, ok := got.Tensor(p.Name)
				if !ok || !slices.Equal(p.Data, q.Data) {
					t.Fatalf("%s differs after the round trip", p.Name)
				}
			}
			if got.ChatTemplate != tt.template {
				t.Errorf("chat template %q, want %q", got.ChatTemplate, tt.template)
			}
			if !slices.Equal(got.EOG, tt.eog) {
				t.Errorf("EOG %v, want %v", got.EOG, tt.eog)
			}
			text := "Hello, world! 12345 <|im_start|>"
			ids := got.Tokenizer.Encode(text, true)
			if !slices.Equal(ids, tok.Encode(text, true)) {
				t.Errorf("tokenization changed: %v vs %v", ids, tok.Encode(text, true))
			}
			if (ids[0] == got.Tokenizer.BOS()) != tt.bos {
				t.Errorf("%v: BOS added = %v, want %v", ids, ids[0] == got.Tokenizer.BOS(), tt.bos)
			}
			sameLogits(t, m, got, ids)
		})
	}
}

// TestArchitectureAdapters checks that an adapter is saved with its base's architecture and is refused by a
// model of another architecture.
func TestArchitectureAdapters(t *testing.T) {
	dir := t.TempDir()
	q, _, err := tinymodel.NewFlavor(tinymodel.Qwen25, 1, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	a, err := llama.NewAdapter(q, llama.LoRAConfig{Rank: 2, Targets: []string{"attn_q", "ffn_down"}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "a.gguf")
	if err := weights.SaveAdapter(path, a, ""); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	arch, _ := f.Meta.String("general.architecture")
	f.Close()
	if arch != "qwen2" {
		t.Fatalf("adapter saved for %q, want qwen2", arch)
	}
	if _, err := weights.LoadAdapter(path, q); err != nil {
		t.Fatal(err)
	}
	l, _, err := tinymodel.NewFlavor(tinymodel.Llama32, 1, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := weights.LoadAdapter(path, l); err == nil || !strings.Contains(err.Error(), `architecture "qwen2"`) {
		t.Errorf("a qwen2 adapter on a llama model: %v", err)
	}
}

// TestLoadRefusals covers GGUFs of architectures or RoPE variants the engine does not run: each is refused
// with a message that says why.
func TestLoadRefusals(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.gguf")
	if _, _, err := tinymodel.Write(t.Context(), good, 1, 0.1, gguf.TypeF32); err != nil {
		t.Fatal(err)
	}
	// rewrite copies good with metadata edits.
	rewrite := func(name string, edit func(w *gguf.Writer)) string {
		f, err := gguf.Open(good)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		w := writerWithMeta(t, f)
		for _, info := range f.Tensors {
			raw, err := f.Raw(info.Name)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.AddRawTensor(info.Name, info.Type, info.Shape, raw); err != nil {
				t.Fatal(err)
			}
		}
		edit(w)
		path := filepath.Join(dir, name+".gguf")
		if err := w.WriteFile(path); err != nil {
			t.Fatal(err)
		}
		return path
	}
	set := func(kvs ...gguf.KV) func(*gguf.Writer) {
		return func(w *gguf.Writer) {
			for _, kv := range kvs {
				if err := w.Set(kv.Key, kv.Value); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	tests := []struct {
		name string
		edit func(*gguf.Writer)
		want string
	}{
		{"mamba", set(gguf.KV{Key: "general.architecture", Value: "mamba"}), `unsupported architecture "mamba" (supported: gemma3, llama, qwen2, qwen3)`},
		{"yarn", set(gguf.KV{Key: "llama.rope.scaling.type", Value: "yarn"}, gguf.KV{Key: "llama.rope.scaling.factor", Value: float32(4)}), `"yarn" is not supported`},
		{"attn factor", set(gguf.KV{Key: "llama.rope.scaling.attn_factor", Value: float32(1.2)}), "attn_factor"},
		{"partial rope", set(gguf.KV{Key: "llama.rope.dimension_count", Value: uint32(8)}), "RoPE over whole heads"},
		{"key length", set(gguf.KV{Key: "llama.attention.key_length", Value: uint32(8)}, gguf.KV{Key: "llama.attention.value_length", Value: uint32(8)}), "only heads of embedding_length/head_count"},
		{"wordpiece", set(gguf.KV{Key: "tokenizer.ggml.model", Value: "bert"}), `"bert" is not supported`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := weights.Load(rewrite(tt.name, tt.edit))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if tt.name == "mamba" && !errors.Is(err, weights.ErrUnsupportedArchitecture) {
				t.Errorf("%v is not ErrUnsupportedArchitecture", err)
			}
		})
	}
	// Linear scaling is supported: the factor lands in the config, with or without the type key.
	for _, kvs := range [][]gguf.KV{
		{{Key: "llama.rope.scaling.type", Value: "linear"}, {Key: "llama.rope.scaling.factor", Value: float32(4)}},
		{{Key: "llama.rope.scaling.factor", Value: float32(4)}},
		{{Key: "llama.rope.scale_linear", Value: float32(4)}},
	} {
		m, err := weights.Load(rewrite("linear", set(kvs...)))
		if err != nil {
			t.Fatalf("%v: %v", kvs, err)
		}
		if m.Config.RopeScale != 4 {
			t.Errorf("%v: RopeScale %v, want 4", kvs, m.Config.RopeScale)
		}
	}
	m, err := weights.Load(rewrite("none", set(gguf.KV{Key: "llama.rope.scaling.type", Value: "none"}, gguf.KV{Key: "llama.rope.scaling.factor", Value: float32(4)})))
	if err != nil || m.Config.RopeScale != 0 {
		t.Errorf("scaling type none: RopeScale %v, error %v; want no scaling", m.Config.RopeScale, err)
	}
}
