package weights

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/tokenizer"
)

// Architecture is the general.architecture Save writes for a model whose llama.Config.Arch is empty.
const Architecture = llama.ArchLlama

// Model is a loaded base model: the decoder, its tokenizer and what the GGUF says about using them.
type Model struct {
	*llama.Model
	Tokenizer tokenizer.Tokenizer
	// Name is general.name.
	Name string
	// ChatTemplate is tokenizer.chat_template, the model's own (Jinja) chat template; empty when the file
	// has none.
	ChatTemplate string
	// EOG lists the end-of-generation tokens of the runner Ollama serves the architecture with, sorted: for
	// architectures on Ollama's own engine (qwen3, gemma3) the EOS token, tokenizer.ggml.eos_token_ids and,
	// for gemma3, the EOT token (106 when unnamed), as that engine's models list them; for the others the
	// set llama.cpp finds (EOS, EOT, EOM, the FIM pad, repo and separator tokens, and tokens such as
	// <|eot_id|> or <|im_end|> by their text). The runner stops at any of them, and so does Generate.
	EOG []int32
	// Path is the GGUF file the model was loaded from (Load sets it; empty for a model built in memory).
	// Merge reads the base's tensors from it.
	Path string
}

// Load reads a GGUF model of a supported architecture (llama.Architectures: llama, including llama-3 with
// its RoPE frequency factors, qwen2, qwen3 and gemma3's text model) with a byte-level BPE or SentencePiece
// tokenizer (tokenizer.Load). Another architecture is refused with an error that lists the supported ones.
//
// Matrices in Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K or Q6_K are kept in that encoding only, without a
// float32 copy (llama.Model.SetEncoded): the matrix products decode them block by block, with results equal
// bit for bit to those of the float32 weights gguf.Dequantize gives, so LoRA training and inference give
// the same numbers as decode-first in a fraction of the memory (LoadWith chooses otherwise). Other tensors
// (F16, BF16, F32, the quantized types not listed) are converted to float32. Matrices in F16 or a type above
// also keep their stored form (llama.QuantizedTypes): with
// m.Precision = llama.Runner() (Ollama v0.6.5) or llama.RunnerFlash() (v0.17.4, whose runners use flash
// attention), inference multiplies as Ollama's runners do (activations quantized to Q8 blocks, ggml's sums
// and exponentials) and reproduces their outputs exactly, but several times slower, so that is not the
// default. By default Precision rounds only where it is cheap (the runner's
// F16 KV cache, and F16 matrix inputs on an F16 model) and multiplies by the matrices whose type has an int8
// kernel on this CPU (llama.Int8Types: Q4_K, …) as the runner does (Precision.Int8), which is also faster
// than decoding them; on a quantized base logits then differ from the runner's by up to a few percent of their
// size (0.12 to 0.25 for logits up to 6 on the parity tests' models with float32 products throughout).
func Load(path string) (*Model, error) {
	return LoadWith(path, LoadOptions{})
}

// BaseMode chooses how Load keeps a model's matrices.
type BaseMode int

const (
	// BaseAuto keeps block-quantized matrices (Q4_0 … Q6_K) encoded and decodes F16 and the rest to float32.
	BaseAuto BaseMode = iota
	// BaseEncoded keeps every matrix whose type is in llama.EncodedTypes encoded, F16 included.
	BaseEncoded
	// BaseDecoded decodes every matrix to float32 on loading (the stored forms are kept beside for
	// Precision.Quantized): the most memory, and no decoding inside the products.
	BaseDecoded
)

// LoadOptions configure LoadWith.
type LoadOptions struct {
	// Base chooses which matrices stay in their GGUF encoding; the zero value is BaseAuto.
	Base BaseMode
}

// LoadWith is Load with options.
func LoadWith(path string, opt LoadOptions) (*Model, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	defer f.Close()
	m, err := fromFile(f, opt)
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", path, err)
	}
	m.Path = path
	return m, nil
}

// ErrUnsupportedArchitecture is returned (wrapped) for a GGUF whose general.architecture the engine does not
// run.
var ErrUnsupportedArchitecture = errors.New("unsupported architecture")

func fromFile(f *gguf.File, opt LoadOptions) (*Model, error) {
	arch, err := f.Meta.String("general.architecture")
	if err != nil {
		return nil, err
	}
	if typ, err := f.Meta.String("general.type"); err == nil && typ == "adapter" {
		return nil, errors.New("this is a LoRA adapter, not a model")
	}
	if !slices.Contains(llama.Architectures(), arch) {
		return nil, fmt.Errorf("%w %q (supported: %s)", ErrUnsupportedArchitecture, arch, strings.Join(llama.Architectures(), ", "))
	}
	cfg, err := configFromMeta(f.Meta, arch)
	if err != nil {
		return nil, err
	}
	_, hasOutput := f.Tensor("output.weight")
	cfg.TiedOutput = !hasOutput
	_, cfg.RopeFreqFactors = f.Tensor("rope_freqs.weight")
	tok, err := tokenizer.Load(f.Meta.Get)
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
	for _, p := range append(lm.Tensors(), lm.Constants()...) {
		want[p.Name] = true
		info, ok := f.Tensor(p.Name)
		if !ok {
			return nil, fmt.Errorf("missing tensor %s", p.Name)
		}
		if err := checkShape(p.Name, info.Shape, p.Shape); err != nil {
			return nil, err
		}
		if len(p.Shape) == 2 && keepEncoded(opt.Base, info.Type) {
			raw, err := f.Raw(p.Name)
			if err != nil {
				return nil, err
			}
			if err := lm.SetEncoded(p.Name, info.Type, raw); err != nil {
				return nil, err
			}
			continue
		}
		data, err := f.Float32s(p.Name)
		if err != nil {
			return nil, err
		}
		copy(p.Data, data)
		if len(p.Shape) == 2 && slices.Contains(llama.QuantizedTypes(), info.Type) {
			// Kept so inference can multiply as the runner does (Precision.Quantized).
			raw, err := f.Raw(p.Name)
			if err != nil {
				return nil, err
			}
			if err := lm.SetQuantized(p.Name, info.Type, raw); err != nil {
				return nil, err
			}
		}
	}
	for _, t := range f.Tensors {
		if !want[t.Name] {
			return nil, fmt.Errorf("unexpected tensor %s for a %s model with %d layers", t.Name, arch, cfg.Layers)
		}
	}
	// Inference rounds where Ollama's llama.cpp runner does (its default F16 KV cache, F16 matrix inputs), so
	// the in-process engine answers as the served model does. Training is unaffected.
	lm.Precision.KVCacheF16 = true
	// Products with Q4_K (and other types with an int8 kernel on this CPU, llama.Int8Types) quantize their
	// inputs as the runner does and take integer dot products: faster than decoding to float32, and closer
	// to the runner's numbers.
	lm.Precision.Int8 = true
	if info, ok := f.Tensor("blk.0.attn_q.weight"); ok && info.Type == gguf.TypeF16 {
		lm.Precision.F16Weights = true
	}
	name, _ := f.Meta.String("general.name")
	tmpl, _ := f.Meta.String(KeyChatTemplate)
	return &Model{Model: lm, Tokenizer: tok, Name: name, ChatTemplate: tmpl, EOG: endOfGeneration(f.Meta, tok, arch)}, nil
}

// keepEncoded reports whether a matrix of type t stays encoded under mode.
func keepEncoded(mode BaseMode, t gguf.Type) bool {
	switch mode {
	case BaseDecoded:
		return false
	case BaseEncoded:
		return slices.Contains(llama.EncodedTypes(), t)
	}
	return t != gguf.TypeF16 && slices.Contains(llama.EncodedTypes(), t)
}

// KeyChatTemplate is the GGUF metadata key of a model's chat template.
const KeyChatTemplate = "tokenizer.chat_template"

// Special-token roles whose tokens end generation in llama.cpp (llama_vocab::impl::load): each is taken
// from its metadata key, or else from the first token with one of its texts.
var eogRoles = []struct {
	key   string
	texts []string
}{
	{"tokenizer.ggml.eot_token_id", []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>", "<｜end▁of▁sentence｜>"}},
	{"tokenizer.ggml.eom_token_id", []string{"<|eom_id|>"}},
	{"tokenizer.ggml.fim_pad_token_id", []string{"<|fim_pad|>", "<fim-pad>", "<PAD>"}},
	{"tokenizer.ggml.fim_rep_token_id", []string{"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>"}},
	{"tokenizer.ggml.fim_sep_token_id", []string{"<|file_sep|>"}},
}

// eogTexts end generation wherever they are in the vocabulary.
var eogTexts = []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>"}

// engineArchitectures are the supported architectures Ollama serves with its own engine rather than llama.cpp
// (fs/ggml's OllamaEngineRequired in v0.17.4); its runner stops only at the tokens the model lists as EOS.
var engineArchitectures = []string{llama.ArchGemma3, llama.ArchQwen3}

// endOfGeneration returns the end-of-generation set of the runner that serves arch, sorted.
func endOfGeneration(meta gguf.Metadata, tok tokenizer.Tokenizer, arch string) []int32 {
	if slices.Contains(engineArchitectures, arch) {
		return engineEndOfGeneration(meta, tok, arch)
	}
	byText := make(map[string]int32)
	for id := range int32(tok.Size()) {
		if _, dup := byText[tok.Token(id)]; !dup {
			byText[tok.Token(id)] = id
		}
	}
	set := map[int32]bool{tok.EOS(): true}
	for _, role := range eogRoles {
		if v, err := meta.Int(role.key); err == nil && v >= 0 && v < tok.Size() {
			set[int32(v)] = true
			continue
		}
		// llama.cpp scans an unordered map and keeps the first hit; vocabularies have at most one of these.
		for _, text := range role.texts {
			if id, ok := byText[text]; ok {
				set[id] = true
				break
			}
		}
	}
	for _, text := range eogTexts {
		if id, ok := byText[text]; ok {
			set[id] = true
		}
	}
	ids := make([]int32, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// engineEndOfGeneration is the EOS list of Ollama's engine models (model/models/{qwen3,gemma3}): the EOS id,
// the ids of tokenizer.ggml.eos_token_ids and, for gemma3, tokenizer.ggml.eot_token_id or 106. Ids outside
// the vocabulary are left out (the engine would never sample them).
func engineEndOfGeneration(meta gguf.Metadata, tok tokenizer.Tokenizer, arch string) []int32 {
	ids := []int32{tok.EOS()}
	if v, err := meta.Int32s("tokenizer.ggml.eos_token_ids"); err == nil {
		ids = append(ids, v...)
	}
	if arch == llama.ArchGemma3 {
		eot := 106
		if v, err := meta.Int("tokenizer.ggml.eot_token_id"); err == nil {
			eot = v
		}
		ids = append(ids, int32(eot))
	}
	ids = slices.DeleteFunc(ids, func(id int32) bool { return id < 0 || int(id) >= tok.Size() })
	slices.Sort(ids)
	return slices.Compact(ids)
}

// configFromMeta reads the <arch>.* hyper-parameters; the vocabulary size comes from the token list.
func configFromMeta(meta gguf.Metadata, arch string) (llama.Config, error) {
	var cfg llama.Config
	if arch != llama.ArchLlama {
		cfg.Arch = arch // llama stays empty, so loaded configs equal the ones written by hand
	}
	key := func(k string) string { return arch + "." + k }
	ints := []struct {
		key string
		dst *int
	}{
		{key("embedding_length"), &cfg.Dim},
		{key("feed_forward_length"), &cfg.Hidden},
		{key("block_count"), &cfg.Layers},
		{key("attention.head_count"), &cfg.Heads},
		{key("context_length"), &cfg.ContextLength},
	}
	for _, kv := range ints {
		v, err := meta.Int(kv.key)
		if err != nil {
			return cfg, err
		}
		*kv.dst = v
	}
	cfg.KVHeads = cfg.Heads
	if v, err := meta.Int(key("attention.head_count_kv")); err == nil {
		cfg.KVHeads = v
	} else if !errors.Is(err, gguf.ErrKeyNotFound) {
		return cfg, err
	}
	cfg.RopeBase = 10000
	if v, err := meta.Float32(key("rope.freq_base")); err == nil {
		cfg.RopeBase = v
	} else if !errors.Is(err, gguf.ErrKeyNotFound) {
		return cfg, err
	}
	eps, err := meta.Float32(key("attention.layer_norm_rms_epsilon"))
	if err != nil && !(arch == llama.ArchGemma3 && errors.Is(err, gguf.ErrKeyNotFound)) {
		return cfg, err
	}
	cfg.NormEps = eps
	if err := headWidth(meta, key, &cfg); err != nil {
		return cfg, err
	}
	if err := ropeScaling(meta, key, &cfg); err != nil {
		return cfg, err
	}
	if arch == llama.ArchGemma3 {
		if err := gemma3Meta(meta, key, &cfg); err != nil {
			return cfg, err
		}
	}
	toks, err := meta.Strings(tokenizer.KeyTokens)
	if err != nil {
		return cfg, err
	}
	cfg.Vocab = len(toks)
	return cfg, nil
}

// headWidth reads the width of a head: attention.key_length and value_length (equal) where the architecture
// allows heads other than embedding_length/head_count (qwen3, gemma3; gemma3's default is 256, as in
// Ollama's engine), else embedding_length/head_count; RoPE must cover the whole head.
func headWidth(meta gguf.Metadata, key func(string) string, cfg *llama.Config) error {
	if cfg.Heads <= 0 {
		return nil // Validate reports it
	}
	free := cfg.Arch == llama.ArchQwen3 || cfg.Arch == llama.ArchGemma3
	hd := 0
	if cfg.Dim%cfg.Heads == 0 {
		hd = cfg.Dim / cfg.Heads
	}
	if cfg.Arch == llama.ArchGemma3 {
		hd = 256
	}
	var lengths [2]int
	for i, k := range []string{"attention.key_length", "attention.value_length"} {
		v, err := meta.Int(key(k))
		switch {
		case errors.Is(err, gguf.ErrKeyNotFound):
			v = hd
		case err != nil:
			return err
		}
		lengths[i] = v
	}
	switch {
	case lengths[0] != lengths[1]:
		return fmt.Errorf("%s %d differs from %s %d: only equal key and value widths are supported",
			key("attention.key_length"), lengths[0], key("attention.value_length"), lengths[1])
	case !free && lengths[0] != hd:
		return fmt.Errorf("%s %d: only heads of embedding_length/head_count = %d values are supported for %s",
			key("attention.key_length"), lengths[0], hd, cfg.Architecture())
	}
	if free {
		cfg.KeyLength = lengths[0]
		if cfg.KeyLength*cfg.Heads == cfg.Dim && cfg.Arch == llama.ArchQwen3 {
			cfg.KeyLength = 0 // the default width, so loaded configs equal the ones written by hand
		}
	}
	if v, err := meta.Int(key("rope.dimension_count")); err == nil && v != cfg.HeadDim() {
		return fmt.Errorf("%s %d: only RoPE over whole heads of %d values is supported", key("rope.dimension_count"), v, cfg.HeadDim())
	}
	return nil
}

// gemma3Meta reads gemma3's sliding window, local RoPE base and logit softcap, with the defaults and the
// corrections for older uploads of Ollama's engine (model/models/gemma3): 26-block models (gemma3:1b) have
// no softcap, 34- and 48-block ones a RoPE scale of 8. Layer l slides unless (l+1) is a multiple of 6, as
// Ollama's engine assigns its caches; a sliding_window_pattern that says otherwise is refused, and so is the
// 62-block model, whose queries Ollama scales differently.
func gemma3Meta(meta gguf.Metadata, key func(string) string, cfg *llama.Config) error {
	if v, err := meta.Int(key("attention.sliding_window")); err == nil {
		cfg.SlidingWindow = v
	} else if !errors.Is(err, gguf.ErrKeyNotFound) {
		return err
	}
	cfg.RopeLocalBase = 10000
	if v, err := meta.Float32(key("rope.local.freq_base")); err == nil {
		cfg.RopeLocalBase = v
	} else if !errors.Is(err, gguf.ErrKeyNotFound) {
		return err
	}
	if v, err := meta.Float32(key("final_logit_softcapping")); err == nil {
		cfg.FinalLogitSoftcap = v
	} else if !errors.Is(err, gguf.ErrKeyNotFound) {
		return err
	}
	if _, err := meta.Float32(key("rope.freq_base")); errors.Is(err, gguf.ErrKeyNotFound) {
		cfg.RopeBase = 1e6
	}
	if _, err := meta.Float32(key("attention.layer_norm_rms_epsilon")); errors.Is(err, gguf.ErrKeyNotFound) {
		cfg.NormEps = 1e-6
	}
	if cfg.SlidingWindow > 0 && cfg.SlidingWindow < cfg.ContextLength {
		switch cfg.Layers {
		case 26:
			cfg.FinalLogitSoftcap = 0
		case 34, 48:
			cfg.RopeScale = 8
		}
	}
	if cfg.Layers == 62 {
		return errors.New("gemma3 with 62 blocks (27B) scales its queries by embedding_length/head_count, which is not supported")
	}
	if raw, ok := meta.Get(key("attention.sliding_window_pattern")); ok {
		pattern, ok := raw.([]bool)
		if !ok {
			return fmt.Errorf("%s is %T, want an array of booleans", key("attention.sliding_window_pattern"), raw)
		}
		for l, sliding := range pattern {
			if l < cfg.Layers && sliding != cfg.SlidingLayer(l) {
				return fmt.Errorf("%s: layer %d sliding=%v, but only every sixth layer global is supported", key("attention.sliding_window_pattern"), l, sliding)
			}
		}
	}
	return nil
}

// ropeScaling reads RoPE scaling as llama.cpp does: the type defaults to "linear", whose factor (also under
// the old key rope.scale_linear) divides every angle; "none" ignores the factor. YaRN and the others change
// the rotation in ways the engine does not reproduce, so they are refused, as is a non-unit attention factor.
func ropeScaling(meta gguf.Metadata, key func(string) string, cfg *llama.Config) error {
	typ := "linear"
	if v, err := meta.String(key("rope.scaling.type")); err == nil {
		typ = v
	} else if !errors.Is(err, gguf.ErrKeyNotFound) {
		return err
	}
	factor := float32(0)
	for _, k := range []string{"rope.scaling.factor", "rope.scale_linear"} {
		v, err := meta.Float32(key(k))
		if err == nil {
			factor = v
			break
		}
		if !errors.Is(err, gguf.ErrKeyNotFound) {
			return err
		}
	}
	switch typ {
	case "none":
	case "linear":
		cfg.RopeScale = factor
	default:
		if factor != 0 && factor != 1 {
			return fmt.Errorf("%s %q is not supported (only linear RoPE scaling and llama-3 rope_freqs are)", key("rope.scaling.type"), typ)
		}
	}
	if v, err := meta.Float32(key("rope.scaling.attn_factor")); err == nil && v != 1 {
		return fmt.Errorf("%s %v is not supported", key("rope.scaling.attn_factor"), v)
	}
	return nil
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
	// Type is the tensor type of the matrices (F32 by default; F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K and Q6_K
	// also work). Norm weights, biases and RoPE factors are always F32, as llama.cpp keeps them, and so is
	// any matrix whose rows do not fill whole blocks of the type (32 values, 256 for K-quants).
	Type gguf.Type
	// ChatTemplate, if set, is written to tokenizer.chat_template.
	ChatTemplate string
	// Extra metadata, written after the standard keys (for example the recipe of a pretrained model).
	Extra []gguf.KV
}

// fileTypes maps a tensor type to the general.file_type llama.cpp declares for a model mostly of that type.
var fileTypes = map[gguf.Type]uint32{
	// general.file_type 0 reads as "unknown" to Ollama's quantizer; F32 models declare 0 in llama.cpp, but we
	// say 1 (mostly F16) so `ollama create --quantize` accepts our files (verified on v0.17.4).
	gguf.TypeF32:  1,
	gguf.TypeF16:  1,
	gguf.TypeQ4_0: 2,
	gguf.TypeQ8_0: 7,
	gguf.TypeQ4_K: 15, // Q4_K_M
	gguf.TypeQ5_K: 17, // Q5_K_M
	gguf.TypeQ6_K: 18,
	gguf.TypeBF16: 32,
}

// Save writes m with its tokenizer as a GGUF file Ollama can load, atomically. The architecture keys follow
// m.Config.Arch (llama when empty).
func Save(path string, m *llama.Model, tok tokenizer.Tokenizer, opt SaveOptions) error {
	w, err := modelWriter(m, tok, opt)
	if err != nil {
		return fmt.Errorf("save model %s: %w", path, err)
	}
	if err := w.WriteFile(path); err != nil {
		return fmt.Errorf("save model %s: %w", path, err)
	}
	return nil
}

func modelWriter(m *llama.Model, tok tokenizer.Tokenizer, opt SaveOptions) (*gguf.Writer, error) {
	cfg := m.Config
	if tok == nil {
		return nil, errors.New("no tokenizer")
	}
	if tok.Size() != cfg.Vocab {
		return nil, fmt.Errorf("tokenizer has %d tokens, the model %d", tok.Size(), cfg.Vocab)
	}
	typ := opt.Type
	fileType, ok := fileTypes[typ]
	if !ok {
		return nil, fmt.Errorf("tensor type %v is not supported for saving", typ)
	}
	name := opt.Name
	if name == "" {
		name = "fastslow"
	}
	arch := cfg.Architecture()
	key := func(k string) string { return arch + "." + k }
	w := gguf.NewWriter()
	kvs := []gguf.KV{
		{Key: "general.architecture", Value: arch},
		{Key: "general.name", Value: name},
		{Key: "general.file_type", Value: fileType},
		{Key: key("context_length"), Value: uint32(cfg.ContextLength)},
		{Key: key("embedding_length"), Value: uint32(cfg.Dim)},
		{Key: key("block_count"), Value: uint32(cfg.Layers)},
		{Key: key("feed_forward_length"), Value: uint32(cfg.Hidden)},
		{Key: key("rope.dimension_count"), Value: uint32(cfg.HeadDim())},
		{Key: key("attention.head_count"), Value: uint32(cfg.Heads)},
		{Key: key("attention.head_count_kv"), Value: uint32(cfg.KVHeads)},
		{Key: key("attention.layer_norm_rms_epsilon"), Value: cfg.NormEps},
		{Key: key("rope.freq_base"), Value: cfg.RopeBase},
		{Key: key("vocab_size"), Value: uint32(cfg.Vocab)},
	}
	if cfg.RopeScale != 0 && cfg.RopeScale != 1 {
		kvs = append(kvs, gguf.KV{Key: key("rope.scaling.type"), Value: "linear"},
			gguf.KV{Key: key("rope.scaling.factor"), Value: cfg.RopeScale})
	}
	if arch == llama.ArchQwen3 || arch == llama.ArchGemma3 {
		kvs = append(kvs, gguf.KV{Key: key("attention.key_length"), Value: uint32(cfg.HeadDim())},
			gguf.KV{Key: key("attention.value_length"), Value: uint32(cfg.HeadDim())})
	}
	if arch == llama.ArchGemma3 {
		local := cfg.RopeLocalBase
		if local == 0 {
			local = 10000
		}
		kvs = append(kvs, gguf.KV{Key: key("attention.sliding_window"), Value: uint32(cfg.SlidingWindow)},
			gguf.KV{Key: key("rope.local.freq_base"), Value: local})
		if cfg.FinalLogitSoftcap > 0 {
			kvs = append(kvs, gguf.KV{Key: key("final_logit_softcapping"), Value: cfg.FinalLogitSoftcap})
		}
	}
	for _, kv := range tok.Metadata() {
		kvs = append(kvs, gguf.KV{Key: kv.Key, Value: kv.Value})
	}
	if opt.ChatTemplate != "" {
		kvs = append(kvs, gguf.KV{Key: KeyChatTemplate, Value: opt.ChatTemplate})
	}
	kvs = append(kvs, opt.Extra...)
	for _, kv := range kvs {
		if err := w.Set(kv.Key, kv.Value); err != nil {
			return nil, err
		}
	}
	block := 32
	switch typ {
	case gguf.TypeQ4_K, gguf.TypeQ5_K, gguf.TypeQ6_K:
		block = 256
	case gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16:
		block = 1
	}
	for _, p := range append(m.Constants(), m.Tensors()...) {
		t := typ
		if len(p.Shape) == 1 || p.Shape[0]%block != 0 {
			t = gguf.TypeF32 // norms, biases and factors stay F32; rows that do not fill blocks too
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
