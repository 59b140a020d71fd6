package llama

import (
	"fmt"
	"slices"
)

// WithTensors returns a model that shares every tensor of m except the named ones, which take the given
// values (float32, the tensor's size, row-major like Data). It is how a merged model (base weights with a
// LoRA folded into some matrices) runs without a second copy of the unchanged weights. The new model has m's
// Config and Precision and the stored quantized forms of every tensor it shares; a replaced matrix has none
// until SetQuantized gives it one. The data slices are kept, not copied. Training the base weights of either
// model would change the shared tensors of both; LoRA training does not touch them.
func (m *Model) WithTensors(data map[string][]float32) (*Model, error) {
	replaced := make(map[*Param]*Param, len(data))
	for name, d := range data {
		p, ok := m.byName[name]
		if !ok || !slices.Contains(m.params, p) {
			return nil, fmt.Errorf("llama: with tensors: %s is not a trained tensor of the model", name)
		}
		if len(d) != numel(p.Shape) {
			return nil, fmt.Errorf("llama: with tensors: %s has %d values, want %d", name, len(d), numel(p.Shape))
		}
		replaced[p] = &Param{Name: p.Name, Shape: slices.Clone(p.Shape), Data: d}
	}
	sub := func(p *Param) *Param {
		if r, ok := replaced[p]; ok {
			return r
		}
		return p
	}
	n := *m
	n.tokEmbd, n.outNorm, n.output = sub(m.tokEmbd), sub(m.outNorm), sub(m.output)
	n.layers = make([]layer, len(m.layers))
	for i, l := range m.layers {
		for _, f := range []**Param{&l.attnNorm, &l.wq, &l.wk, &l.wv, &l.wo, &l.bq, &l.bk, &l.bv, &l.qNorm, &l.kNorm,
			&l.postAttnNorm, &l.postFFNNorm, &l.ffnNorm, &l.gate, &l.up, &l.down} {
			*f = sub(*f)
		}
		n.layers[i] = l
	}
	n.params = make([]*Param, len(m.params))
	for i, p := range m.params {
		n.params[i] = sub(p)
	}
	n.consts = slices.Clone(m.consts)
	n.byName = make(map[string]*Param, len(m.byName))
	for _, p := range append(slices.Clone(n.params), n.consts...) {
		n.byName[p.Name] = p
	}
	n.quant = nil
	for p, q := range m.quant {
		if _, ok := replaced[p]; ok {
			continue
		}
		if n.quant == nil {
			n.quant = make(map[*Param]*quantMatrix, len(m.quant))
		}
		n.quant[p] = q
	}
	return &n, nil
}
