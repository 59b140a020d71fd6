package llama

import (
	"sync"

	"github.com/fastslow/fastslow/weights/gguf"
)

// EncodedTypes returns the weight types a matrix can be kept in without a float32 copy (SetEncoded).
func EncodedTypes() []gguf.Type { return QuantizedTypes() }

// SetEncoded keeps the matrix name only in its GGUF encoding raw (format typ, one of EncodedTypes): its
// float32 Data is dropped (set to nil) and every product with it — the forward x·Wᵀ, the input gradient dY·W,
// the token-embedding lookup — decodes it a block of rows or columns at a time, with results equal to those
// of the float32 weights gguf.Dequantize gives, bit for bit. A LoRA adapter trains on such a base as on the
// float32 one, in a fraction of the memory (a Q4_K matrix takes 4.5 bits per weight instead of 32).
// Inference with Precision.Quantized multiplies by raw as llama.cpp does, as after SetQuantized.
//
// The base weights of a model with encoded matrices cannot be trained in their encoding: EnableGrad (and
// LossAndGrad with trainBase) decodes them first (DecodeBase). Tensors returns them decoded too. raw is kept,
// not copied, and must not change.
func (m *Model) SetEncoded(name string, typ gguf.Type, raw []byte) error {
	q, err := m.newQuantMatrix("set encoded", name, typ, raw, EncodedTypes())
	if err != nil {
		return err
	}
	q.enc = true
	m.quant[q.w] = q
	q.w.Data, q.w.Grad = nil, nil
	return nil
}

// Encoded reports whether the matrix name is kept encoded (SetEncoded) and in which type.
func (m *Model) Encoded(name string) (gguf.Type, bool) {
	p, ok := m.byName[name]
	if !ok {
		return 0, false
	}
	if q := m.encoded(p); q != nil {
		return q.typ, true
	}
	return 0, false
}

// materializeMu serializes the decoding of encoded matrices into their Data.
var materializeMu sync.Mutex

// materialize fills the Data of every encoded matrix among ps with its decoded values. The products keep
// using the encoded form (with equal results), so materializing does not race with inference.
func (m *Model) materialize(ps []*Param) {
	materializeMu.Lock()
	defer materializeMu.Unlock()
	for _, p := range ps {
		if q := m.encoded(p); q != nil && p.Data == nil {
			d := make([]float32, q.in*q.out)
			q.decodeRows(d, 0, q.out)
			p.Data = d
		}
	}
}

// DecodeBase gives every matrix kept encoded its float32 Data and makes the products use those values, as
// for a model loaded decode-first (the encoded forms stay for Precision.Quantized inference). Training the
// base weights needs it; EnableGrad calls it. It must not run concurrently with anything else on m.
func (m *Model) DecodeBase() {
	m.materialize(m.params)
	for _, q := range m.quant {
		q.enc = false
	}
}

// TensorValues returns the float32 values of the base tensor p (one of the model's): p.Data, or for a matrix
// kept encoded its values decoded into a new slice (p.Data stays nil).
func (m *Model) TensorValues(p *Param) []float32 {
	if q := m.encoded(p); q != nil && p.Data == nil {
		d := make([]float32, q.in*q.out)
		q.decodeRows(d, 0, q.out)
		return d
	}
	return p.Data
}

// numel returns the number of values of a tensor of shape s.
func numel(s []int) int {
	n := 1
	for _, v := range s {
		n *= v
	}
	return n
}
