package llama

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// LoRAConfig selects the low-rank adapter: its rank, its alpha (the update is scaled by Alpha/Rank; 0 means a
// scale of 1, as llama.cpp reads adapter.lora.alpha) and the projection matrices it adapts in every block.
// Targets take GGUF names (attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_up, ffn_down) or their PEFT
// equivalents (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj).
type LoRAConfig struct {
	Rank    int
	Alpha   float32
	Targets []string
}

// peftNames maps PEFT module names to GGUF tensor names.
var peftNames = map[string]string{
	"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
	"gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down",
}

// targetIndex returns the position in linearNames of a GGUF or PEFT target name, or −1.
func targetIndex(name string) int {
	if g, ok := peftNames[name]; ok {
		name = g
	}
	return slices.Index(linearNames[:], name)
}

// Validate reports the first problem with c, or nil.
func (c LoRAConfig) Validate() error {
	if c.Rank <= 0 {
		return fmt.Errorf("llama: lora rank %d must be positive", c.Rank)
	}
	if !(c.Alpha >= 0) || math.IsInf(float64(c.Alpha), 1) {
		return fmt.Errorf("llama: lora alpha %v must be finite and non-negative", c.Alpha)
	}
	if len(c.Targets) == 0 {
		return errors.New("llama: lora has no targets")
	}
	for _, t := range c.Targets {
		if targetIndex(t) < 0 {
			return fmt.Errorf("llama: unknown lora target %q (want one of %v or their PEFT names)", t, linearNames)
		}
	}
	return nil
}

// Adapter is a LoRA adapter for one model shape: for each targeted matrix W of each block it holds A
// ([rank][n_in]) and B ([n_out][rank]), and the forward pass computes W·x + Scale·B(A·x).
type Adapter struct {
	Config LoRAConfig

	base   Config         // the model shape the adapter was made for
	pairs  [][7]*loraPair // per block, per entry of linearNames; nil where not targeted
	params []*Param
	scale  float32
}

// loraPair is the adapter of one matrix with n_in inputs and n_out outputs.
type loraPair struct {
	a, b    *Param
	in, out int
}

// NewAdapter returns an adapter for m initialized as PEFT does: A uniform in ±1/sqrt(n_in) (kaiming-uniform
// with a = sqrt(5)), B zero, so the adapted model starts equal to the base. The initialization is
// deterministic in seed.
func NewAdapter(m *Model, cfg LoRAConfig, seed uint64) (*Adapter, error) {
	if m == nil {
		return nil, errors.New("llama: new adapter: nil model")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var targeted [7]bool
	for _, t := range cfg.Targets {
		targeted[targetIndex(t)] = true
	}
	norm := make([]string, 0, 7)
	for i, on := range targeted {
		if on {
			norm = append(norm, linearNames[i])
		}
	}
	cfg.Targets = norm
	a := &Adapter{Config: cfg, base: m.Config, pairs: make([][7]*loraPair, len(m.layers)), scale: 1}
	if cfg.Alpha != 0 {
		a.scale = cfg.Alpha / float32(cfg.Rank)
	}
	rng := rand.New(rand.NewPCG(seed, 0x6c6f7261)) // second word: "lora"
	r := cfg.Rank
	for l := range m.layers {
		for i, name := range linearNames {
			if !targeted[i] {
				continue
			}
			w := m.layers[l].linear(name)
			in, out := w.Shape[0], w.Shape[1]
			base := fmt.Sprintf("blk.%d.%s.weight", l, name)
			pa := &Param{Name: base + ".lora_a", Shape: []int{in, r}, Data: make([]float32, r*in), Grad: make([]float32, r*in)}
			pb := &Param{Name: base + ".lora_b", Shape: []int{r, out}, Data: make([]float32, out*r), Grad: make([]float32, out*r)}
			bound := 1 / math.Sqrt(float64(in))
			for j := range pa.Data {
				pa.Data[j] = float32((2*rng.Float64() - 1) * bound)
			}
			a.pairs[l][i] = &loraPair{a: pa, b: pb, in: in, out: out}
			a.params = append(a.params, pa, pb)
		}
	}
	return a, nil
}

// Params returns the adapter's tensors, named "<base tensor>.lora_a" (Shape {n_in, r}, row-major r×n_in) and
// "<base tensor>.lora_b" (Shape {r, n_out}, row-major n_out×r), as a GGUF LoRA adapter stores them. Their Grad
// buffers are allocated.
func (a *Adapter) Params() []*Param {
	return append([]*Param(nil), a.params...)
}

// Scale is the factor applied to B(A·x): Alpha/Rank, or 1 when Alpha is 0 (llama.cpp's convention).
func (a *Adapter) Scale() float32 { return a.scale }

// ZeroGrad sets the adapter's gradients to zero.
func (a *Adapter) ZeroGrad() {
	for _, p := range a.params {
		clear(p.Grad)
	}
}

// Architecture returns the architecture of the model the adapter was made for (a Config.Arch value, never
// empty). An adapter applies only to models of that architecture.
func (a *Adapter) Architecture() string { return a.base.Architecture() }

// check reports whether a fits m: both must have the same architecture and block shapes.
func (a *Adapter) check(m *Model) error {
	if a == nil {
		return nil
	}
	b, c := a.base, m.Config
	if b.Architecture() != c.Architecture() {
		return fmt.Errorf("adapter made for a %s model, model is %s", b.Architecture(), c.Architecture())
	}
	if b.Dim != c.Dim || b.Hidden != c.Hidden || b.Layers != c.Layers || b.Heads != c.Heads || b.KVHeads != c.KVHeads {
		return fmt.Errorf("adapter made for dim %d hidden %d layers %d heads %d/%d, model has %d %d %d %d/%d",
			b.Dim, b.Hidden, b.Layers, b.Heads, b.KVHeads, c.Dim, c.Hidden, c.Layers, c.Heads, c.KVHeads)
	}
	return nil
}

// pair returns the adapter of block l's matrix i of linearNames, or nil.
func (a *Adapter) pair(l, i int) *loraPair {
	if a == nil {
		return nil
	}
	return a.pairs[l][i]
}

// targets reports whether a adapts matrix i of linearNames in any block.
func (a *Adapter) targets(i int) bool {
	for _, ps := range a.pairs {
		if ps[i] != nil {
			return true
		}
	}
	return false
}
