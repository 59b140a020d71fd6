package peft

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/nlpodyssey/safetensors"
)

// Tensor is one tensor of a safetensors file with its values converted to float32.
type Tensor struct {
	// DType is the type stored in the file: F32, F16, BF16 or F64 (F64 values are rounded to float32).
	DType string
	// Shape is the tensor's shape in PyTorch's order (outermost first): a Linear weight is [out, in].
	Shape []int
	// Data holds the values row-major.
	Data []float32
}

// ErrSafetensors is returned (wrapped) for bytes that are not a whole, valid safetensors file.
var ErrSafetensors = errors.New("not a whole, valid safetensors file")

// ReadSafetensors decodes a whole safetensors file: its floating-point tensors by name and its __metadata__.
// The layout checks are those of the reference implementation (github.com/nlpodyssey/safetensors ports them):
// a header of at most 100 MB, tensors laid out back to back in header order, each exactly as long as its dtype
// and shape require, and nothing after the last one — so a truncated file is an error, never a short tensor.
// Tensors of integer or boolean types are refused.
func ReadSafetensors(data []byte) (map[string]Tensor, map[string]string, error) {
	st, err := safetensors.Deserialize(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrSafetensors, err)
	}
	_, meta, err := safetensors.ReadMetadata(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrSafetensors, err)
	}
	out := make(map[string]Tensor, st.Len())
	for _, nv := range st.Tensors() {
		t, err := decodeTensor(nv.TensorView)
		if err != nil {
			return nil, nil, fmt.Errorf("tensor %s: %w", nv.Name, err)
		}
		out[nv.Name] = t
	}
	return out, meta.Metadata(), nil
}

func decodeTensor(v safetensors.TensorView) (Tensor, error) {
	shape := make([]int, len(v.Shape()))
	n := 1
	for i, d := range v.Shape() {
		if d > math.MaxInt32 {
			return Tensor{}, fmt.Errorf("dimension %d too large", d)
		}
		shape[i] = int(d)
		n *= int(d)
	}
	raw := v.Data()
	t := Tensor{DType: v.DType().String(), Shape: shape, Data: make([]float32, n)}
	switch v.DType() {
	case safetensors.F32:
		for i := range t.Data {
			t.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case safetensors.F16:
		for i := range t.Data {
			t.Data[i] = gguf.FP16ToFP32(binary.LittleEndian.Uint16(raw[2*i:]))
		}
	case safetensors.BF16:
		for i := range t.Data {
			t.Data[i] = gguf.BF16ToFP32(binary.LittleEndian.Uint16(raw[2*i:]))
		}
	case safetensors.F64:
		for i := range t.Data {
			t.Data[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])))
		}
	default:
		return Tensor{}, fmt.Errorf("dtype %s is not a floating-point type this reader converts (F32, F16, BF16, F64)", v.DType())
	}
	return t, nil
}

// f32View is a float32 tensor in the form the safetensors serializer takes.
type f32View struct {
	shape []uint64
	data  []byte
}

func (v f32View) DType() safetensors.DType { return safetensors.F32 }
func (v f32View) Shape() []uint64          { return v.shape }
func (v f32View) Data() []byte             { return v.data }
func (v f32View) DataLen() uint64          { return uint64(len(v.data)) }

// WriteSafetensors encodes tensors as a safetensors file in F32 (whatever their DType says), with meta as its
// __metadata__. The output is deterministic: tensors are ordered by name and the header's keys are sorted.
func WriteSafetensors(tensors map[string]Tensor, meta map[string]string) ([]byte, error) {
	views := make(map[string]f32View, len(tensors))
	names := make([]string, 0, len(tensors))
	for name := range tensors {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t := tensors[name]
		n := 1
		shape := make([]uint64, len(t.Shape))
		for i, d := range t.Shape {
			if d <= 0 {
				return nil, fmt.Errorf("write safetensors: tensor %s has shape %v", name, t.Shape)
			}
			shape[i], n = uint64(d), n*d
		}
		if n != len(t.Data) || len(t.Shape) == 0 {
			return nil, fmt.Errorf("write safetensors: tensor %s has shape %v but %d values", name, t.Shape, len(t.Data))
		}
		var buf bytes.Buffer
		buf.Grow(4 * n)
		for _, x := range t.Data {
			buf.Write(binary.LittleEndian.AppendUint32(nil, math.Float32bits(x)))
		}
		views[name] = f32View{shape: shape, data: buf.Bytes()}
	}
	out, err := safetensors.Serialize(views, meta)
	if err != nil {
		return nil, fmt.Errorf("write safetensors: %w", err)
	}
	return out, nil
}
