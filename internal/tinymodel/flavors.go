package tinymodel

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"

	"github.com/fastslow/fastslow/internal/ollamamod"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/tokenizer"
)

// Flavor is a family of models users bring from Ollama, shrunk to a few blocks of random weights around a
// real vocabulary: the parts that decide tokenization and the network's shape are real, the weights are not.
type Flavor string

const (
	// Llama32 is shaped like llama3.2:1b: architecture llama, the real llama-3.2 vocabulary (128,000 BPE
	// tokens and its 256 special tokens, pre-tokenizer llama-bpe, BOS added, <|eot_id|> as EOS), RoPE base
	// 500000 with llama-3 frequency factors in rope_freqs.weight, a tied output.
	Llama32 Flavor = "llama3.2"
	// Qwen25 is shaped like qwen2.5:0.5b: architecture qwen2 (q/k/v biases, NEOX RoPE, base 1e6), a tied
	// output and qwen2's tokenizer rules (pre-tokenizer qwen2, no BOS, <|im_end|> as EOS) over the
	// llama-3.2 merges, the only real BPE vocabulary on hand, with Qwen's special tokens.
	Qwen25 Flavor = "qwen2.5"
)

// Flavors lists every flavor.
func Flavors() []Flavor { return []Flavor{Llama32, Qwen25} }

// Chat templates written into the flavors' GGUFs. Abridged from the real ones: the engine only carries
// them, so their content matters only in that it must come back unchanged.
const (
	Llama32Template = "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif %}"
	Qwen25Template  = "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}"
)

// FlavorConfig returns the tiny shape of a flavor for a vocabulary of vocab tokens: dim 64 in 4 heads
// sharing 2 key/value heads, 2 blocks, a context of 1024.
func FlavorConfig(f Flavor, vocab int) (llama.Config, error) {
	c := llama.Config{Vocab: vocab, Dim: 64, Hidden: 128, Layers: 2, Heads: 4, KVHeads: 2, ContextLength: 1024,
		NormEps: 1e-5, TiedOutput: true}
	switch f {
	case Llama32:
		c.RopeBase, c.RopeFreqFactors = 500000, true
	case Qwen25:
		c.Arch, c.RopeBase, c.NormEps = llama.ArchQwen2, 1e6, 1e-6
	default:
		return c, fmt.Errorf("tinymodel: unknown flavor %q", f)
	}
	return c, nil
}

// NewFlavor returns a random-weight model of flavor f and its tokenizer; see Write for std.
func NewFlavor(f Flavor, seed uint64, std float32) (*llama.Model, *tokenizer.BPE, error) {
	tok, err := FlavorTokenizer(f)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := FlavorConfig(f, tok.Size())
	if err != nil {
		return nil, nil, err
	}
	m, err := llama.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	m.InitRandom(seed, std)
	if p, ok := m.Tensor("rope_freqs.weight"); ok {
		copy(p.Data, Llama3RopeFactors(cfg.HeadDim(), cfg.RopeBase, 32, 1, 4, 8192))
	}
	return m, tok, nil
}

// WriteFlavor creates a model of flavor f and saves it to path with matrices of type typ and the flavor's
// chat template.
func WriteFlavor(path string, f Flavor, seed uint64, std float32, typ gguf.Type) (*llama.Model, *tokenizer.BPE, error) {
	m, tok, err := NewFlavor(f, seed, std)
	if err != nil {
		return nil, nil, err
	}
	tmpl := map[Flavor]string{Llama32: Llama32Template, Qwen25: Qwen25Template}[f]
	name := "tiny-" + string(f) + "-" + strings.ToLower(typ.String())
	if err := weights.Save(path, m, tok, weights.SaveOptions{Name: name, Type: typ, ChatTemplate: tmpl}); err != nil {
		return nil, nil, err
	}
	return m, tok, nil
}

// Llama3RopeFactors computes llama-3's RoPE frequency factors for a head of headDim values as Ollama's
// converter (convert_llama.go) writes them to rope_freqs.weight: 1 for high frequencies, factor for low
// ones and a smooth blend between. llama 3.2 uses factor 32, low 1, high 4, original context 8192.
func Llama3RopeFactors(headDim int, base, factor, low, high float32, original int) []float32 {
	lambdaLow := float32(original) / low
	lambdaHigh := float32(original) / high
	var out []float32
	for i := 0; i < headDim; i += 2 {
		lambda := 2 * math.Pi * math.Pow(float64(base), float64(i)/float64(headDim))
		switch {
		case lambda < float64(lambdaHigh):
			out = append(out, 1)
		case lambda > float64(lambdaLow):
			out = append(out, factor)
		default:
			smooth := (float32(original)/float32(lambda) - low) / (high - low)
			out = append(out, 1/((1-smooth)/factor+smooth))
		}
	}
	return out
}

// Llama32Specials returns llama 3.2's special tokens as its GGUF numbers them, ids 128000 to 128255.
func Llama32Specials() map[string]int32 {
	named := []string{"<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
		"<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|reserved_special_token_2|>",
		"<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"}
	s := make(map[string]int32, 256)
	for i, text := range named {
		s[text] = 128000 + int32(i)
	}
	for id := 128000 + len(named); id < 128256; id++ { // 128011 is <|reserved_special_token_3|>
		s[fmt.Sprintf("<|reserved_special_token_%d|>", id-128008)] = int32(id)
	}
	return s
}

// qwenSpecials are Qwen2.5's first special tokens, numbered after the llama-3.2 vocabulary.
var qwenSpecials = map[string]int32{
	"<|endoftext|>": 128000, "<|im_start|>": 128001, "<|im_end|>": 128002,
	"<|object_ref_start|>": 128003, "<|object_ref_end|>": 128004,
	"<|fim_prefix|>": 128005, "<|fim_middle|>": 128006, "<|fim_suffix|>": 128007, "<|fim_pad|>": 128008,
	"<|repo_name|>": 128009, "<|file_sep|>": 128010,
}

var flavorToks sync.Map // Flavor -> func() (*tokenizer.BPE, error)

// FlavorTokenizer returns the tokenizer of flavor f, built once per process (the vocabulary is large).
func FlavorTokenizer(f Flavor) (*tokenizer.BPE, error) {
	v, _ := flavorToks.LoadOrStore(f, sync.OnceValues(func() (*tokenizer.BPE, error) { return buildTokenizer(f) }))
	return v.(func() (*tokenizer.BPE, error))()
}

func buildTokenizer(f Flavor) (*tokenizer.BPE, error) {
	var pre string
	var bos, eos int32
	var specials map[string]int32
	switch f {
	case Llama32:
		specials = Llama32Specials()
		pre, bos, eos = tokenizer.PreLlamaBPE, specials["<|begin_of_text|>"], specials["<|eot_id|>"]
	case Qwen25:
		specials = qwenSpecials
		pre, bos, eos = tokenizer.PreQwen2, specials["<|endoftext|>"], specials["<|im_end|>"]
	default:
		return nil, fmt.Errorf("tinymodel: unknown flavor %q", f)
	}
	var files [2][]byte
	for i, name := range []string{"llama3.2/encoder.json", "llama3.2/vocab.bpe"} {
		path, err := ollamamod.Testdata(name)
		if err != nil {
			return nil, err
		}
		if files[i], err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("tinymodel: %w", err)
		}
	}
	// The GGUF metadata a converter writes (what tokenizer.LoadHF builds, with the instruct models' end
	// token as EOS), assembled directly so the large vocabulary is indexed once.
	var encoder map[string]int32
	if err := json.Unmarshal(files[0], &encoder); err != nil {
		return nil, fmt.Errorf("tinymodel: encoder.json: %w", err)
	}
	n := len(encoder)
	for _, id := range specials {
		n = max(n, int(id)+1)
	}
	tokens := make([]string, n)
	types := make([]int32, n)
	for text, id := range encoder {
		tokens[id], types[id] = text, tokenizer.TypeNormal
	}
	for text, id := range specials {
		tokens[id], types[id] = text, tokenizer.TypeControl
	}
	for id := range tokens {
		if tokens[id] == "" {
			tokens[id], types[id] = fmt.Sprintf("[PAD%d]", id), tokenizer.TypeUnused
		}
	}
	var merges []string
	for i, line := range strings.Split(string(files[1]), "\n") {
		if line == "" || i == 0 && strings.HasPrefix(line, "#version") {
			continue
		}
		merges = append(merges, line)
	}
	meta := map[string]any{
		tokenizer.KeyModel: "gpt2", tokenizer.KeyPre: pre, tokenizer.KeyTokens: tokens,
		tokenizer.KeyTokenType: types, tokenizer.KeyMerges: merges,
		tokenizer.KeyBOS: uint32(bos), tokenizer.KeyEOS: uint32(eos),
		tokenizer.KeyAddBOS: f == Llama32, tokenizer.KeyAddEOS: false,
	}
	tok, err := tokenizer.FromMetadata(func(k string) (any, bool) { v, ok := meta[k]; return v, ok })
	if err != nil {
		return nil, fmt.Errorf("tinymodel: %s tokenizer: %w", f, err)
	}
	return tok, nil
}

// WriteShape creates a model of the given shape (its Vocab is set to the tiny tokenizer's size) with the
// tiny trained vocabulary and saves it to path with matrices of type typ. Quantization tests use it for
// widths that fill K-quant blocks (multiples of 256).
func WriteShape(ctx context.Context, path string, shape llama.Config, seed uint64, std float32, typ gguf.Type) (*llama.Model, *tokenizer.BPE, error) {
	tok, err := Tokenizer(ctx, 384)
	if err != nil {
		return nil, nil, fmt.Errorf("tiny tokenizer: %w", err)
	}
	shape.Vocab = tok.Size()
	m, err := llama.New(shape)
	if err != nil {
		return nil, nil, err
	}
	m.InitRandom(seed, std)
	if err := save(path, m, tok, "tiny-"+shape.Architecture()+"-", typ); err != nil {
		return nil, nil, err
	}
	return m, tok, nil
}
