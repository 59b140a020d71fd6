// Package hffixture loads the fixtures a PyTorch script wrote for package weights/peft
// (weights/peft/testdata/make_fixture.py): a tiny llama or qwen2 model in Hugging Face's layout, converted to
// the engine's form as llama.cpp's convert_hf_to_gguf converts it, the PEFT LoRA adapter trained for it, and
// PyTorch's logits for a token sequence with and without the adapter.
package hffixture

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/peft"
)

// Archs are the fixtures' architectures.
var Archs = []string{llama.ArchLlama, llama.ArchQwen2}

// Fixture is one architecture's fixture.
type Fixture struct {
	// Dir is the fixture's directory; AdapterDir holds the PEFT adapter.
	Dir, AdapterDir string
	// Model is the base model with float32 arithmetic (no rounding emulation).
	Model *llama.Model
	// Tokens is the sequence PyTorch scored; Logits (with the adapter) and BaseLogits (without) are its
	// float64 logits rounded to float32, len(Tokens) rows of Model.Config.Vocab values.
	Tokens             []int32
	Logits, BaseLogits []float32
}

// hfConfig is the part of transformers' config.json the fixtures use.
type hfConfig struct {
	ModelType  string  `json:"model_type"`
	Vocab      int     `json:"vocab_size"`
	Hidden     int     `json:"hidden_size"`
	FFN        int     `json:"intermediate_size"`
	Layers     int     `json:"num_hidden_layers"`
	Heads      int     `json:"num_attention_heads"`
	KVHeads    int     `json:"num_key_value_heads"`
	Context    int     `json:"max_position_embeddings"`
	RopeTheta  float32 `json:"rope_theta"`
	NormEps    float32 `json:"rms_norm_eps"`
	TieEmbeddi bool    `json:"tie_word_embeddings"`
}

// Root returns the directory of the fixtures (weights/peft/testdata).
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "weights", "peft", "testdata")
}

// Load reads the fixture of arch (an Archs entry).
func Load(arch string) (*Fixture, error) {
	dir := filepath.Join(Root(), arch)
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("hffixture: %w", err)
	}
	var hc hfConfig
	if err := json.Unmarshal(b, &hc); err != nil {
		return nil, fmt.Errorf("hffixture: config.json: %w", err)
	}
	cfg := llama.Config{Vocab: hc.Vocab, Dim: hc.Hidden, Hidden: hc.FFN, Layers: hc.Layers, Heads: hc.Heads,
		KVHeads: hc.KVHeads, ContextLength: hc.Context, RopeBase: hc.RopeTheta, NormEps: hc.NormEps,
		TiedOutput: hc.TieEmbeddi}
	if hc.ModelType != llama.ArchLlama {
		cfg.Arch = hc.ModelType
	}
	m, err := llama.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("hffixture: %w", err)
	}
	ts, err := readTensors(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		return nil, err
	}
	for name, t := range ts {
		g, err := ggufName(name)
		if err != nil {
			return nil, err
		}
		p, ok := m.Tensor(g)
		if !ok || len(p.Data) != len(t.Data) {
			return nil, fmt.Errorf("hffixture: %s (%s) does not fit the model", name, g)
		}
		data := t.Data
		if cfg.Architecture() == llama.ArchLlama {
			// convert_hf_to_gguf's LlamaModel.permute: reshape(heads, 2, d/2, ...).swapaxes(1, 2).
			if strings.HasSuffix(name, "q_proj.weight") {
				data = interleaveHalves(data, cfg.Heads, cfg.Dim)
			} else if strings.HasSuffix(name, "k_proj.weight") {
				data = interleaveHalves(data, cfg.KVHeads, cfg.Dim)
			}
		}
		copy(p.Data, data)
	}
	ref, err := readTensors(filepath.Join(dir, "reference.safetensors"))
	if err != nil {
		return nil, err
	}
	f := &Fixture{Dir: dir, AdapterDir: filepath.Join(dir, "adapter"), Model: m,
		Logits: ref["logits"].Data, BaseLogits: ref["logits_base"].Data}
	for _, id := range ref["tokens"].Data {
		f.Tokens = append(f.Tokens, int32(id))
	}
	return f, nil
}

func readTensors(path string) (map[string]peft.Tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("hffixture: %w", err)
	}
	ts, _, err := peft.ReadSafetensors(b)
	if err != nil {
		return nil, fmt.Errorf("hffixture: %s: %w", path, err)
	}
	return ts, nil
}

// interleaveHalves permutes the rows of a matrix of heads·d rows of cols values: in each head, the row i of
// the first half and the row i of the second go to rows 2i and 2i+1.
func interleaveHalves(x []float32, heads, cols int) []float32 {
	rows := len(x) / cols
	d := rows / heads
	out := make([]float32, 0, len(x))
	for h := range heads {
		for i := range d / 2 {
			first := (h*d + i) * cols
			second := (h*d + d/2 + i) * cols
			out = append(out, x[first:first+cols]...)
			out = append(out, x[second:second+cols]...)
		}
	}
	return out
}

// ggufName maps a transformers tensor name to the GGUF name convert_hf_to_gguf gives it.
func ggufName(name string) (string, error) {
	switch name {
	case "model.embed_tokens.weight":
		return "token_embd.weight", nil
	case "model.norm.weight":
		return "output_norm.weight", nil
	case "lm_head.weight":
		return "output.weight", nil
	}
	var l int
	var rest string
	if _, err := fmt.Sscanf(name, "model.layers.%d.%s", &l, &rest); err != nil {
		return "", fmt.Errorf("hffixture: unexpected tensor %s", name)
	}
	kinds := map[string]string{
		"input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
		"self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight",
		"self_attn.v_proj.weight": "attn_v.weight", "self_attn.o_proj.weight": "attn_output.weight",
		"self_attn.q_proj.bias": "attn_q.bias", "self_attn.k_proj.bias": "attn_k.bias",
		"self_attn.v_proj.bias": "attn_v.bias", "mlp.gate_proj.weight": "ffn_gate.weight",
		"mlp.up_proj.weight": "ffn_up.weight", "mlp.down_proj.weight": "ffn_down.weight",
	}
	k, ok := kinds[rest]
	if !ok {
		return "", fmt.Errorf("hffixture: unexpected tensor %s", name)
	}
	return fmt.Sprintf("blk.%d.%s", l, k), nil
}
