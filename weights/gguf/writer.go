package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/fastslow/fastslow/internal/atomicfile"
)

// maxNameLen is the longest tensor name ggml can load (GGML_MAX_NAME - 1).
const maxNameLen = 63

// Writer builds a GGUF version 3 file in memory: metadata in insertion
// order, then tensors in insertion order, each aligned to the file's
// alignment and padded like ggml's gguf_write_to_file. The zero value is not
// usable; call NewWriter.
type Writer struct {
	meta    Metadata
	tensors []wtensor
	names   map[string]bool
}

type wtensor struct {
	info TensorInfo
	data []byte
	fill func() ([]byte, error) // AddTensorFunc's source, called by WriteTo when data is nil
}

// NewWriter returns an empty Writer.
func NewWriter() *Writer {
	return &Writer{names: make(map[string]bool)}
}

// Set stores a metadata value under key. A new key goes after the existing
// ones; setting an existing key replaces its value in place. value must be
// one of the types listed for KV.Value; slices are copied. general.alignment
// must be a uint32 power of two.
func (w *Writer) Set(key string, value any) error {
	if _, err := valueType(value); err != nil {
		return fmt.Errorf("gguf: set %q: %w", key, err)
	}
	if key == KeyAlignment {
		a, ok := value.(uint32)
		if !ok {
			return fmt.Errorf("gguf: set %q: want uint32, got %s", key, typeName(value))
		}
		if a == 0 || a&(a-1) != 0 {
			return fmt.Errorf("gguf: set %q: %d is not a power of two", key, a)
		}
		if len(w.tensors) > 0 && a != uint32(w.alignment()) {
			// Offsets already assigned depend on the alignment.
			return fmt.Errorf("gguf: set %q: alignment must be set before adding tensors", key)
		}
	}
	w.meta.set(key, cloneValue(value))
	return nil
}

// Delete removes key and reports whether it was present. general.alignment
// cannot be removed once tensors have been added.
func (w *Writer) Delete(key string) bool {
	if key == KeyAlignment && len(w.tensors) > 0 && w.alignment() != DefaultAlignment {
		return false
	}
	return w.meta.remove(key)
}

// Meta returns the metadata set so far. It shares storage with the Writer
// and is invalidated by later calls to Set and Delete.
func (w *Writer) Meta() Metadata { return w.meta }

// Tensors returns descriptions of the tensors added so far, with the data
// offsets they will have in the file.
func (w *Writer) Tensors() []TensorInfo {
	out := make([]TensorInfo, len(w.tensors))
	for i, t := range w.tensors {
		out[i] = t.info
		out[i].Shape = append([]uint64(nil), t.info.Shape...)
	}
	return out
}

func (w *Writer) alignment() uint64 {
	if v, ok := w.meta.Get(KeyAlignment); ok {
		return uint64(v.(uint32))
	}
	return DefaultAlignment
}

// AddTensor converts data to typ (see Quantize for the supported types) and
// adds it as a tensor of the given shape (ggml ne order: shape[0] is the row
// length). len(data) must equal the product of shape.
func (w *Writer) AddTensor(name string, typ Type, shape []uint64, data []float32) error {
	info, err := w.check(name, typ, shape)
	if err != nil {
		return err
	}
	if n := info.NumElements(); uint64(len(data)) != n {
		return fmt.Errorf("gguf: add tensor %q: shape %v has %d elements, data has %d", name, shape, n, len(data))
	}
	raw, err := Quantize(typ, data)
	if err != nil {
		return fmt.Errorf("gguf: add tensor %q: %w", name, err)
	}
	w.add(info, raw)
	return nil
}

// AddRawTensor adds a tensor whose data is already encoded as typ. raw must
// hold exactly the tensor's size in bytes; it is copied.
func (w *Writer) AddRawTensor(name string, typ Type, shape []uint64, raw []byte) error {
	info, err := w.check(name, typ, shape)
	if err != nil {
		return err
	}
	if n := info.Bytes(); uint64(len(raw)) != n {
		return fmt.Errorf("gguf: add tensor %q: %s shape %v takes %d bytes, got %d", name, typ, shape, n, len(raw))
	}
	w.add(info, append([]byte(nil), raw...))
	return nil
}

// AddTensorFunc adds a tensor whose data, already encoded as typ, fill returns when the file is written:
// WriteTo asks for one tensor at a time and drops it once written, so a file larger than memory can be
// written. fill must return exactly the tensor's size in bytes; an error from it fails WriteTo.
func (w *Writer) AddTensorFunc(name string, typ Type, shape []uint64, fill func() ([]byte, error)) error {
	info, err := w.check(name, typ, shape)
	if err != nil {
		return err
	}
	if fill == nil {
		return fmt.Errorf("gguf: add tensor %q: nil fill function", name)
	}
	w.add(info, nil)
	w.tensors[len(w.tensors)-1].fill = fill
	return nil
}

// check validates a new tensor's name, type and shape.
func (w *Writer) check(name string, typ Type, shape []uint64) (TensorInfo, error) {
	info := TensorInfo{Name: name, Type: typ, Shape: append([]uint64(nil), shape...)}
	switch {
	case name == "":
		return info, errors.New("gguf: add tensor: empty name")
	case len(name) > maxNameLen:
		return info, fmt.Errorf("gguf: add tensor %q: name longer than %d bytes, which ggml cannot load", name, maxNameLen)
	case w.names[name]:
		return info, fmt.Errorf("gguf: add tensor %q: duplicate name", name)
	case !typ.Known():
		return info, fmt.Errorf("gguf: add tensor %q: unknown type %d", name, uint32(typ))
	case len(shape) == 0 || len(shape) > maxDims:
		return info, fmt.Errorf("gguf: add tensor %q: %d dimensions, want 1 to %d", name, len(shape), maxDims)
	}
	elems := uint64(1)
	for i, d := range shape {
		if d == 0 {
			return info, fmt.Errorf("gguf: add tensor %q: dimension %d is zero", name, i)
		}
		if elems > math.MaxInt64/d {
			return info, fmt.Errorf("gguf: add tensor %q: shape %v overflows", name, shape)
		}
		elems *= d
	}
	if bs := typ.BlockSize(); shape[0]%bs != 0 {
		return info, fmt.Errorf("gguf: add tensor %q: row length %d is not a multiple of the %s block size %d",
			name, shape[0], typ, bs)
	}
	// The byte size must not overflow either (Read refuses such a file): F32 takes 4 bytes a value.
	if row := shape[0] / typ.BlockSize(); row > math.MaxInt64/typ.BlockBytes() ||
		elems/shape[0] > math.MaxInt64/(row*typ.BlockBytes()) {
		return info, fmt.Errorf("gguf: add tensor %q: %s shape %v overflows in bytes", name, typ, shape)
	}
	return info, nil
}

func (w *Writer) add(info TensorInfo, raw []byte) {
	a := w.alignment()
	var off uint64
	if n := len(w.tensors); n > 0 {
		last := w.tensors[n-1]
		off = alignUp(last.info.Offset+last.info.Bytes(), a)
	}
	info.Offset = off
	w.tensors = append(w.tensors, wtensor{info: info, data: raw})
	w.names[info.Name] = true
}

func alignUp(n, a uint64) uint64 { return (n + a - 1) &^ (a - 1) }

// WriteTo writes the GGUF file to out.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	cw := &countWriter{w: out}
	bw := bufio.NewWriterSize(cw, 1<<20)
	e := &encoder{w: bw}

	e.raw([]byte(Magic))
	e.u32(Version)
	e.u64(uint64(len(w.tensors)))
	e.u64(uint64(w.meta.Len()))
	for _, kv := range w.meta.kvs {
		e.str(kv.Key)
		e.value(kv.Value)
	}
	for _, t := range w.tensors {
		e.str(t.info.Name)
		e.u32(uint32(len(t.info.Shape)))
		for _, d := range t.info.Shape {
			e.u64(d)
		}
		e.u32(uint32(t.info.Type))
		e.u64(t.info.Offset)
	}
	a := w.alignment()
	e.pad(a)
	for _, t := range w.tensors {
		data := t.data
		if t.fill != nil && e.err == nil {
			var err error
			if data, err = t.fill(); err != nil {
				e.err = fmt.Errorf("tensor %q: %w", t.info.Name, err)
			} else if uint64(len(data)) != t.info.Bytes() {
				e.err = fmt.Errorf("tensor %q: %s shape %v takes %d bytes, fill returned %d", t.info.Name,
					t.info.Type, t.info.Shape, t.info.Bytes(), len(data))
			}
		}
		e.raw(data)
		e.pad(a)
	}
	if e.err == nil {
		e.err = bw.Flush()
	}
	if e.err != nil {
		return cw.n, fmt.Errorf("gguf: write: %w", e.err)
	}
	return cw.n, nil
}

// WriteFile writes the GGUF file to path atomically: readers of path see
// the old file or the complete new one, never a partial write.
func (w *Writer) WriteFile(path string) error {
	err := atomicfile.WriteFile(path, 0o644, func(out io.Writer) error {
		_, err := w.WriteTo(out)
		return err
	})
	if err != nil {
		return fmt.Errorf("gguf: write %s: %w", path, err)
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// encoder writes little-endian GGUF values, remembering the first error.
type encoder struct {
	w   *bufio.Writer
	n   uint64
	err error
	buf [8]byte
}

func (e *encoder) raw(b []byte) {
	if e.err != nil {
		return
	}
	_, e.err = e.w.Write(b)
	e.n += uint64(len(b))
}

func (e *encoder) u8(v uint8) { e.raw([]byte{v}) }

func (e *encoder) u16(v uint16) {
	binary.LittleEndian.PutUint16(e.buf[:], v)
	e.raw(e.buf[:2])
}

func (e *encoder) u32(v uint32) {
	binary.LittleEndian.PutUint32(e.buf[:], v)
	e.raw(e.buf[:4])
}

func (e *encoder) u64(v uint64) {
	binary.LittleEndian.PutUint64(e.buf[:], v)
	e.raw(e.buf[:8])
}

func (e *encoder) str(s string) {
	e.u64(uint64(len(s)))
	if e.err != nil {
		return
	}
	_, e.err = e.w.WriteString(s)
	e.n += uint64(len(s))
}

func (e *encoder) pad(a uint64) {
	var zero [64]byte
	for n := alignUp(e.n, a) - e.n; n > 0 && e.err == nil; {
		k := min(n, uint64(len(zero)))
		e.raw(zero[:k])
		n -= k
	}
}

func (e *encoder) value(v any) {
	t, _ := valueType(v) // validated by Set
	if t.array {
		e.u32(gtArray)
	}
	e.u32(t.elem)
	switch v := v.(type) {
	case uint8:
		e.u8(v)
	case int8:
		e.u8(uint8(v))
	case uint16:
		e.u16(v)
	case int16:
		e.u16(uint16(v))
	case uint32:
		e.u32(v)
	case int32:
		e.u32(uint32(v))
	case uint64:
		e.u64(v)
	case int64:
		e.u64(uint64(v))
	case float32:
		e.u32(math.Float32bits(v))
	case float64:
		e.u64(math.Float64bits(v))
	case bool:
		e.u8(boolByte(v))
	case string:
		e.str(v)
	case []uint8:
		e.u64(uint64(len(v)))
		e.raw(v)
	case []int8:
		writeSlice(e, v, func(x int8) { e.u8(uint8(x)) })
	case []uint16:
		writeSlice(e, v, e.u16)
	case []int16:
		writeSlice(e, v, func(x int16) { e.u16(uint16(x)) })
	case []uint32:
		writeSlice(e, v, e.u32)
	case []int32:
		writeSlice(e, v, func(x int32) { e.u32(uint32(x)) })
	case []uint64:
		writeSlice(e, v, e.u64)
	case []int64:
		writeSlice(e, v, func(x int64) { e.u64(uint64(x)) })
	case []float32:
		writeSlice(e, v, func(x float32) { e.u32(math.Float32bits(x)) })
	case []float64:
		writeSlice(e, v, func(x float64) { e.u64(math.Float64bits(x)) })
	case []bool:
		writeSlice(e, v, func(x bool) { e.u8(boolByte(x)) })
	case []string:
		writeSlice(e, v, e.str)
	}
}

func writeSlice[T any](e *encoder, s []T, put func(T)) {
	e.u64(uint64(len(s)))
	for _, x := range s {
		put(x)
	}
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

type gtype struct {
	elem  uint32
	array bool
}

// valueType maps a Go metadata value to its GGUF type.
func valueType(v any) (gtype, error) {
	switch v.(type) {
	case uint8:
		return gtype{gtUint8, false}, nil
	case int8:
		return gtype{gtInt8, false}, nil
	case uint16:
		return gtype{gtUint16, false}, nil
	case int16:
		return gtype{gtInt16, false}, nil
	case uint32:
		return gtype{gtUint32, false}, nil
	case int32:
		return gtype{gtInt32, false}, nil
	case uint64:
		return gtype{gtUint64, false}, nil
	case int64:
		return gtype{gtInt64, false}, nil
	case float32:
		return gtype{gtFloat32, false}, nil
	case float64:
		return gtype{gtFloat64, false}, nil
	case bool:
		return gtype{gtBool, false}, nil
	case string:
		return gtype{gtString, false}, nil
	case []uint8:
		return gtype{gtUint8, true}, nil
	case []int8:
		return gtype{gtInt8, true}, nil
	case []uint16:
		return gtype{gtUint16, true}, nil
	case []int16:
		return gtype{gtInt16, true}, nil
	case []uint32:
		return gtype{gtUint32, true}, nil
	case []int32:
		return gtype{gtInt32, true}, nil
	case []uint64:
		return gtype{gtUint64, true}, nil
	case []int64:
		return gtype{gtInt64, true}, nil
	case []float32:
		return gtype{gtFloat32, true}, nil
	case []float64:
		return gtype{gtFloat64, true}, nil
	case []bool:
		return gtype{gtBool, true}, nil
	case []string:
		return gtype{gtString, true}, nil
	}
	return gtype{}, fmt.Errorf("unsupported value type %T", v)
}

// cloneValue copies slices so later changes by the caller do not leak into
// the Writer.
func cloneValue(v any) any {
	switch s := v.(type) {
	case []uint8:
		return append([]uint8(nil), s...)
	case []int8:
		return append([]int8(nil), s...)
	case []uint16:
		return append([]uint16(nil), s...)
	case []int16:
		return append([]int16(nil), s...)
	case []uint32:
		return append([]uint32(nil), s...)
	case []int32:
		return append([]int32(nil), s...)
	case []uint64:
		return append([]uint64(nil), s...)
	case []int64:
		return append([]int64(nil), s...)
	case []float32:
		return append([]float32(nil), s...)
	case []float64:
		return append([]float64(nil), s...)
	case []bool:
		return append([]bool(nil), s...)
	case []string:
		return append([]string(nil), s...)
	}
	return v
}
