package llama

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Model is a llama-family decoder with float32 weights in GGUF layout. A Model is safe for concurrent
// inference (Logits, LogLikelihood, Generate); LossAndGrad accumulates into the Grad buffers and must not run
// concurrently with another LossAndGrad or with writes to the weights.
type Model struct {
	Config Config
	// Precision, when set, makes inference round values to float16 where llama.cpp does (see Precision).
	Precision Precision

	tokEmbd   *Param // [vocab][dim]
	outNorm   *Param // [dim]
	output    *Param // [vocab][dim]; the same Param as tokEmbd when tied
	ropeFreqs *Param // [headDim/2] frequency divisors, or nil
	layers    []layer
	params    []*Param // trained tensors
	consts    []*Param // constant tensors (rope_freqs)
	byName    map[string]*Param
	quant     map[*Param]*quantMatrix // quantized forms of matrices (SetQuantized)
	headDim   int
	qDim      int // Heads·headDim
	kvDim     int // KVHeads·headDim
	groupSize int // query heads per key/value head
}

// layer holds one transformer block's tensors.
type layer struct {
	attnNorm, wq, wk, wv, wo  *Param
	bq, bk, bv                *Param // projection biases (qwen2), else nil
	qNorm, kNorm              *Param // per-head query and key norms (qwen3, gemma3), else nil
	postAttnNorm, postFFNNorm *Param // norms after attention and feed-forward (gemma3), else nil
	ffnNorm, gate, up, down   *Param
}

// linear names the seven projection matrices of a block, in the order used for LoRA targets.
var linearNames = [...]string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}

// New returns a model of the given shape with all weights zero.
func New(cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Model{
		Config:    cfg,
		byName:    make(map[string]*Param),
		headDim:   cfg.HeadDim(),
		qDim:      cfg.QDim(),
		kvDim:     cfg.KVHeads * cfg.HeadDim(),
		groupSize: cfg.Heads / cfg.KVHeads,
	}
	add := func(name string, shape ...int) *Param {
		n := 1
		for _, s := range shape {
			n *= s
		}
		p := &Param{Name: name, Shape: shape, Data: make([]float32, n)}
		m.params = append(m.params, p)
		m.byName[name] = p
		return p
	}
	d, q, kv, h, hd := cfg.Dim, m.qDim, m.kvDim, cfg.Hidden, m.headDim
	m.tokEmbd = add("token_embd.weight", d, cfg.Vocab)
	m.layers = make([]layer, cfg.Layers)
	for i := range m.layers {
		pre := fmt.Sprintf("blk.%d.", i)
		l := &m.layers[i]
		// GGUF order: a bias follows its matrix.
		l.attnNorm = add(pre+"attn_norm.weight", d)
		l.wq = add(pre+"attn_q.weight", d, q)
		if cfg.qkvBias() {
			l.bq = add(pre+"attn_q.bias", q)
		}
		l.wk = add(pre+"attn_k.weight", d, kv)
		if cfg.qkvBias() {
			l.bk = add(pre+"attn_k.bias", kv)
		}
		l.wv = add(pre+"attn_v.weight", d, kv)
		if cfg.qkvBias() {
			l.bv = add(pre+"attn_v.bias", kv)
		}
		l.wo = add(pre+"attn_output.weight", q, d)
		if cfg.qkNorm() {
			l.qNorm = add(pre+"attn_q_norm.weight", hd)
			l.kNorm = add(pre+"attn_k_norm.weight", hd)
		}
		if cfg.gemma() {
			l.postAttnNorm = add(pre+"post_attention_norm.weight", d)
		}
		l.ffnNorm = add(pre+"ffn_norm.weight", d)
		l.gate = add(pre+"ffn_gate.weight", d, h)
		l.up = add(pre+"ffn_up.weight", d, h)
		l.down = add(pre+"ffn_down.weight", h, d)
		if cfg.gemma() {
			l.postFFNNorm = add(pre+"post_ffw_norm.weight", d)
		}
	}
	m.outNorm = add("output_norm.weight", d)
	if cfg.TiedOutput {
		m.output = m.tokEmbd
	} else {
		m.output = add("output.weight", d, cfg.Vocab)
	}
	if cfg.RopeFreqFactors {
		// One tensor for all blocks, as llama.cpp shares it; factors of 1 leave RoPE unchanged.
		m.ropeFreqs = &Param{Name: "rope_freqs.weight", Shape: []int{m.headDim / 2}, Data: make([]float32, m.headDim/2)}
		for i := range m.ropeFreqs.Data {
			m.ropeFreqs.Data[i] = 1
		}
		m.consts = append(m.consts, m.ropeFreqs)
		m.byName[m.ropeFreqs.Name] = m.ropeFreqs
	}
	return m, nil
}

// bias returns the bias added after block l's matrix i of linearNames, or nil.
func (l *layer) bias(i int) *Param {
	switch i {
	case 0:
		return l.bq
	case 1:
		return l.bk
	case 2:
		return l.bv
	}
	return nil
}

// linear returns the projection matrix of block l named by one of linearNames.
func (l *layer) linear(name string) *Param {
	switch name {
	case "attn_q":
		return l.wq
	case "attn_k":
		return l.wk
	case "attn_v":
		return l.wv
	case "attn_output":
		return l.wo
	case "ffn_gate":
		return l.gate
	case "ffn_up":
		return l.up
	case "ffn_down":
		return l.down
	}
	return nil
}

// InitRandom fills every matrix and bias with normal values of standard deviation std and every norm weight
// with 1, deterministically from seed. Constant tensors (rope_freqs) keep their values.
func (m *Model) InitRandom(seed uint64, std float32) {
	rng := rand.New(rand.NewPCG(seed, 0x6c6c616d61)) // second word: "llama"
	for _, p := range m.params {
		if len(p.Shape) == 1 && !strings.HasSuffix(p.Name, ".bias") {
			for i := range p.Data {
				p.Data[i] = 1
			}
			continue
		}
		for i := range p.Data {
			p.Data[i] = float32(rng.NormFloat64()) * std
		}
	}
}

// Tensors returns every trained base tensor with its GGUF name and ggml shape, in a fixed order (token_embd,
// the blocks in order, output_norm, output). With a tied output there is no output.weight. The Params are
// the model's own: writing to Data changes the model.
//
// On a model whose base is kept encoded (SetEncoded), Tensors first decodes the encoded matrices into their
// Data (the memory of a float32 copy; the products keep using the encoded forms). Tensor does not: there, an
// encoded matrix has nil Data (TensorValues decodes it).
func (m *Model) Tensors() []*Param {
	m.materialize(m.params)
	return append([]*Param(nil), m.params...)
}

// Constants returns the base tensors that are part of the model but never trained: rope_freqs.weight when
// Config.RopeFreqFactors is set, else none. A saved model must include them.
func (m *Model) Constants() []*Param {
	return append([]*Param(nil), m.consts...)
}

// Tensor returns the base tensor (trained or constant) with the given GGUF name.
func (m *Model) Tensor(name string) (*Param, bool) {
	p, ok := m.byName[name]
	return p, ok
}

// EnableGrad allocates the Grad buffer of every base tensor that lacks one. Matrices kept encoded are decoded
// first (DecodeBase): the base is trained in float32.
func (m *Model) EnableGrad() {
	m.DecodeBase()
	for _, p := range m.params {
		if p.Grad == nil {
			p.Grad = make([]float32, len(p.Data))
		}
	}
}

// ZeroGrad sets every allocated gradient of the base tensors to zero.
func (m *Model) ZeroGrad() {
	for _, p := range m.params {
		clear(p.Grad)
	}
}

// NumParams returns the number of scalar weights of the model (a tied output counted once).
func (m *Model) NumParams() int {
	n := 0
	for _, p := range m.params {
		n += numel(p.Shape)
	}
	return n
}

// checkTokens reports the first token id outside the vocabulary.
func (m *Model) checkTokens(tokens []int32) error {
	for i, t := range tokens {
		if t < 0 || int(t) >= m.Config.Vocab {
			return fmt.Errorf("token %d at position %d outside vocabulary of %d", t, i, m.Config.Vocab)
		}
	}
	return nil
}
