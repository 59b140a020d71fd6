package weights

import (
	"errors"
	"fmt"
	"strings"

	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/tokenizer"
)

// Architecture is the only GGUF general.architecture the engine runs today.
const Architecture = "llama"

// Model is a loaded base model: the decoder, its tokenizer and the name it was saved under.
type Model struct {
	*llama.Model
	Tokenizer *tokenizer.BPE
	Name      string
}

// Load reads a llama-architecture GGUF model with a gpt2 (byte-level BPE) tokenizer. Quantized tensors are
// dequantized to float32. The model's inference Precision is set to round as Ollama's runner does.
func Load(path string) (*Model, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	defer f.Close()
	m, err := fromFile(f)
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", path, err)
	}
	return m, nil
}

func fromFile(f *gguf.File) (*Model, error) {
	arch, err := f.Meta.String("general.architecture")
	if err != nil {
		return nil, err
	}
	if typ, err := f.Meta.String("general.type"); err == nil && typ == "adapter" {
		return nil, errors.New("this is a LoRA adapter, not a model")
	}
	if arch != Architecture {
		return nil, fmt.Errorf("architecture %q is not supported (supported: %s)", arch, Architecture)
	}
	cfg, err := configFromMeta(f.Meta)
	if err != nil {
		return nil, err
	}
	_, hasOutput := f.Tensor("output.weight")
	cfg.TiedOutput = !hasOutput
	tok, err := tokenizer.FromMetadata(f.Meta.Get)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if tok.Size() != cfg.Vocab {
		return nil, fmt.Errorf("tokenizer has %d tokens but token_embd has %d rows", tok.Size(), cfg.Vocab)
	}
	lm, err := llama.New(cfg)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, p := range lm.Tensors() {
		want[p.Name] = true
		info, ok := f.Tensor(p.Name)
		if !ok {
			return nil, fmt.Errorf("missing tensor %s", p.Name)
		}
		if err := checkShape(p.Name, info.Shape, p.Shape); err != nil {
			return nil, err
		}
		data, err := f.Float32s(p.Name)
		if err != nil {
			return nil, err
		}
		copy(p.Data, data)
	}
	for _, t := range f.Tensors {
		if !want[t.Name] && !strings.HasSuffix(t.Name, "rope_freqs.weight") {
			return nil, fmt.Errorf("unexpected tensor %s for a %s model with %d layers", t.Name, arch, cfg.Layers)
		}
	}
	// Inference rounds where Ollama's llama.cpp runner does (its default F16 KV cache, F16 matrix inputs), so
	// the in-process engine answers as the served model does. Training is unaffected.
	lm.Precision.KVCacheF16 = true
	if info, ok := f.Tensor("blk.0.attn_q.weight"); ok && info.Type == gguf.TypeF16 {
		lm.Precision.F16Weights = true
	}
	name, _ := f.Meta.String("general.name")
	return &Model{Model: lm, Tokenizer: tok, Name: name}, nil
}

// configFromMeta reads the llama.* hyper-parameters; the vocabulary size comes from token_embd's shape.
func configFromMeta(meta gguf.Metadata) (llama.Config, error) {
	var cfg llama.Config
	ints := []struct {
		key string
		dst *int
	}{
		{"llama.embedding_length", &cfg.Dim},
		{"llama.feed_forward_length", &cfg.Hidden},
		{"llama.block_count", &cfg.Layers},
		{"llama.attention.head_count", &cfg.Heads},
		{"llama.context_length", &cfg.ContextLength},
	}
	for _, kv := range ints {
		v, err := meta.Int(kv.key)
		if err != nil {
			return cfg, err
		}
		*kv.dst = v
	}
	cfg.KVHeads = cfg.Heads
	if v, err := meta.Int("llama.attention.head_count_kv"); err == nil {
		cfg.KVHeads = v
	} else if !errors.Is(err, gguf.ErrKeyNotFound) {
		return cfg, err
	}
	cfg.RopeBase = 10000
	if v, err := meta.Float32("llama.rope.freq_base"); err == nil {
		cfg.RopeBase = v
	} else if !errors.Is(err, gguf.ErrKeyNotFound) {
		return cfg, err
	}
	eps, err := meta.Float32("llama.attention.layer_norm_rms_epsilon")
	if err != nil {
		return cfg, err
	}
	cfg.NormEps = eps
	if cfg.Heads > 0 && cfg.Dim%cfg.Heads == 0 {
		if v, err := meta.Int("llama.rope.dimension_count"); err == nil && v != cfg.Dim/cfg.Heads {
			return cfg, fmt.Errorf("llama.rope.dimension_count %d: only full-head RoPE (%d) is supported", v, cfg.Dim/cfg.Heads)
		}
	}
	if v, ok := meta.Get("llama.rope.scaling.type"); ok {
		if s, _ := v.(string); s != "" && s != "none" {
			return cfg, fmt.Errorf("llama.rope.scaling.type %q is not supported", s)
		}
	}
	toks, err := meta.Strings(tokenizer.KeyTokens)
	if err != nil {
		return cfg, err
	}
	cfg.Vocab = len(toks)
	return cfg, nil
}

func checkShape(name string, got []uint64, want []int) error {
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i] == uint64(want[i])
	}
	if !ok {
		return fmt.Errorf("tensor %s has shape %v, the model config needs %v", name, got, want)
	}
	return nil
}

// SaveOptions chooses how Save stores a model.
type SaveOptions struct {
	// Name is written to general.name.
	Name string
	// Type is the tensor type of the matrices (F32 by default; F16, BF16, Q8_0 and Q4_0 also work). Norm
	// weights are always F32, as llama.cpp keeps them.
	Type gguf.Type
	// Extra metadata, written after the standard keys (for example the recipe of a pretrained model).
	Extra []gguf.KV
}

// Save writes m with its tokenizer as a GGUF file Ollama can load, atomically.
func Save(path string, m *llama.Model, tok *tokenizer.BPE, opt SaveOptions) error {
	w, err := modelWriter(m, tok, opt)
	if err != nil {
		return fmt.Errorf("save model %s: %w", path, err)
	}
	if err := w.WriteFile(path); err != nil {
		return fmt.Errorf("save model %s: %w", path, err)
	}
	return nil
}

func modelWriter(m *llama.Model, tok *tokenizer.BPE, opt SaveOptions) (*gguf.Writer, error) {
	cfg := m.Config
	if tok == nil {
		return nil, errors.New("no tokenizer")
	}
	if tok.Size() != cfg.Vocab {
		return nil, fmt.Errorf("tokenizer has %d tokens, the model %d", tok.Size(), cfg.Vocab)
	}
	typ := opt.Type
	fileType := uint32(0)
	switch typ {
	case gguf.TypeF32:
		// general.file_type 0 reads as "unknown" to Ollama's quantizer; F32 models still declare 0 like llama.cpp,
		// except we say 1 (mostly F16) so `ollama create --quantize` accepts our files (verified on v0.17.4).
		fileType = 1
	case gguf.TypeF16:
		fileType = 1
	case gguf.TypeQ8_0:
		fileType = 7
	case gguf.TypeQ4_0:
		fileType = 2
	case gguf.TypeBF16:
		fileType = 32
	default:
		return nil, fmt.Errorf("tensor type %v is not supported for saving", typ)
	}
	name := opt.Name
	if name == "" {
		name = "fastslow"
	}
	w := gguf.NewWriter()
	kvs := []gguf.KV{
		{Key: "general.architecture", Value: Architecture},
		{Key: "general.name", Value: name},
		{Key: "general.file_type", Value: fileType},
		{Key: "llama.context_length", Value: uint32(cfg.ContextLength)},
		{Key: "llama.embedding_length", Value: uint32(cfg.Dim)},
		{Key: "llama.block_count", Value: uint32(cfg.Layers)},
		{Key: "llama.feed_forward_length", Value: uint32(cfg.Hidden)},
		{Key: "llama.rope.dimension_count", Value: uint32(cfg.HeadDim())},
		{Key: "llama.attention.head_count", Value: uint32(cfg.Heads)},
		{Key: "llama.attention.head_count_kv", Value: uint32(cfg.KVHeads)},
		{Key: "llama.attention.layer_norm_rms_epsilon", Value: cfg.NormEps},
		{Key: "llama.rope.freq_base", Value: cfg.RopeBase},
		{Key: "llama.vocab_size", Value: uint32(cfg.Vocab)},
	}
	for _, kv := range tok.Metadata() {
		kvs = append(kvs, gguf.KV{Key: kv.Key, Value: kv.Value})
	}
	kvs = append(kvs, opt.Extra...)
	for _, kv := range kvs {
		if err := w.Set(kv.Key, kv.Value); err != nil {
			return nil, err
		}
	}
	for _, p := range m.Tensors() {
		t := typ
		if len(p.Shape) == 1 || p.Shape[0]%32 != 0 && t != gguf.TypeF16 && t != gguf.TypeBF16 {
			t = gguf.TypeF32 // norms stay F32; rows that do not fill quant blocks too
		}
		if err := w.AddTensor(p.Name, t, toShape(p.Shape), p.Data); err != nil {
			return nil, err
		}
	}
	return w, nil
}

func toShape(s []int) []uint64 {
	out := make([]uint64, len(s))
	for i, v := range s {
		out[i] = uint64(v)
	}
	return out
}
