package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"slices"
)

// ErrFormat is wrapped by every error that reports a malformed or
// unsupported GGUF file.
var ErrFormat = errors.New("invalid GGUF")

// Magic is the four bytes every GGUF file starts with.
const Magic = "GGUF"

// Version is the GGUF version the Writer produces. Readers accept 2 and 3,
// which share one layout.
const Version = 3

// DefaultAlignment is the data alignment used when a file does not set
// general.alignment.
const DefaultAlignment = 32

// KeyAlignment is the metadata key that sets the data alignment. Its value
// must be a uint32 power of two.
const KeyAlignment = "general.alignment"

// maxDims is GGML_MAX_DIMS.
const maxDims = 4

// GGUF metadata value type ids.
const (
	gtUint8   = 0
	gtInt8    = 1
	gtUint16  = 2
	gtInt16   = 3
	gtUint32  = 4
	gtInt32   = 5
	gtFloat32 = 6
	gtBool    = 7
	gtString  = 8
	gtArray   = 9
	gtUint64  = 10
	gtInt64   = 11
	gtFloat64 = 12
)

// gtSize gives the encoded size of fixed-size value types (0 for others).
var gtSize = [...]int64{
	gtUint8: 1, gtInt8: 1, gtUint16: 2, gtInt16: 2, gtUint32: 4, gtInt32: 4,
	gtFloat32: 4, gtBool: 1, gtString: 0, gtArray: 0, gtUint64: 8, gtInt64: 8, gtFloat64: 8,
}

// TensorInfo describes one tensor of a GGUF file.
type TensorInfo struct {
	Name string
	// Shape holds the dimensions in ggml's ne order: Shape[0] is the row
	// length, the fastest-varying dimension.
	Shape []uint64
	Type  Type
	// Offset is the position of the tensor's data relative to the start
	// of the data section (File.DataOffset).
	Offset uint64
}

// NumElements returns the number of elements (the product of Shape).
func (t TensorInfo) NumElements() uint64 {
	n := uint64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Bytes returns the size of the tensor's data in bytes.
func (t TensorInfo) Bytes() uint64 {
	if len(t.Shape) == 0 {
		return t.Type.RowBytes(1)
	}
	rows := t.NumElements() / t.Shape[0]
	return t.Type.RowBytes(t.Shape[0]) * rows
}

// File is a parsed GGUF file. Its fields are read-only: Tensor looks names
// up through an index built by Read. Its methods other than Close are safe
// for concurrent use.
type File struct {
	// Version is the GGUF version of the file (2 or 3).
	Version uint32
	// Meta is the key-value metadata in file order.
	Meta Metadata
	// Tensors describes the tensors in file order.
	Tensors []TensorInfo
	// Alignment is the data alignment: general.alignment or 32.
	Alignment uint64
	// DataOffset is the absolute file position of the data section.
	DataOffset int64
	// Size is the size of the file in bytes.
	Size int64

	r      io.ReaderAt
	closer io.Closer
	index  map[string]int
}

// Open opens and parses the GGUF file at path. The caller must Close the
// returned File.
func Open(path string) (*File, error) {
	// A FIFO, device or directory would block or never end: only a regular
	// file (or a link to one) is a model file.
	if fi, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("gguf: %s: %w: not a regular file (%s)", path, ErrFormat, fi.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("gguf: %w", err)
	}
	g, err := read(f, fi.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("gguf: %s: %w", path, err)
	}
	g.closer = f
	return g, nil
}

// Read parses the GGUF header of the size bytes readable from r and
// validates the tensor layout. Tensor data is read lazily through r, which
// must stay usable until the File is no longer used.
func Read(r io.ReaderAt, size int64) (*File, error) {
	f, err := read(r, size)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	return f, nil
}

func read(r io.ReaderAt, size int64) (*File, error) {
	if size < 0 {
		return nil, fmt.Errorf("negative size %d", size)
	}
	d := &decoder{r: bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 64<<10), size: size}
	f := &File{r: r, Size: size}
	if err := f.decode(d); err != nil {
		return nil, err
	}
	return f, nil
}

// Close releases the file opened by Open. For a File from Read it does
// nothing.
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	err := f.closer.Close()
	f.closer = nil
	return err
}

// Tensor returns the description of the named tensor.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	i, ok := f.index[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Tensors[i], true
}

// Raw returns a copy of the named tensor's data as stored in the file.
func (f *File) Raw(name string) ([]byte, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("gguf: tensor %q not found", name)
	}
	buf := make([]byte, t.Bytes())
	off := f.DataOffset + int64(t.Offset)
	// A ReaderAt may return io.EOF together with a full buffer.
	if n, err := f.r.ReadAt(buf, off); n < len(buf) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("gguf: read tensor %q at offset %d: %w", name, off, err)
	}
	return buf, nil
}

// Float32s returns the named tensor's data converted to float32, exactly as
// ggml's dequantize_row_* functions would; see Dequantize for the types.
func (f *File) Float32s(name string) ([]float32, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("gguf: tensor %q not found", name)
	}
	if !canDequantize(t.Type) {
		return nil, fmt.Errorf("gguf: tensor %q: cannot convert type %s to float32", name, t.Type)
	}
	raw, err := f.Raw(name)
	if err != nil {
		return nil, err
	}
	out := make([]float32, t.NumElements())
	if err := Dequantize(t.Type, raw, out); err != nil {
		return nil, fmt.Errorf("gguf: tensor %q: %w", name, err)
	}
	return out, nil
}

func (f *File) decode(d *decoder) error {
	magic, err := d.bytes(4, "magic")
	if err != nil {
		return err
	}
	if string(magic) != Magic {
		return fmt.Errorf("%w: bad magic %q at offset 0, want %q", ErrFormat, magic, Magic)
	}
	if f.Version, err = d.u32("version"); err != nil {
		return err
	}
	switch f.Version {
	case 2, 3:
	case 1:
		return fmt.Errorf("%w: GGUF version 1 is not supported", ErrFormat)
	case 2 << 24, 3 << 24:
		return fmt.Errorf("%w: big-endian GGUF is not supported", ErrFormat)
	default:
		return fmt.Errorf("%w: unsupported GGUF version %d", ErrFormat, f.Version)
	}
	nTensors, err := d.u64("tensor count")
	if err != nil {
		return err
	}
	nKV, err := d.u64("metadata count")
	if err != nil {
		return err
	}
	// Each entry takes at least a length, a type and one value byte; each
	// tensor info at least a name length, n_dims, one dim, type and offset.
	const minKV, minTensor = 8 + 4 + 1, 8 + 4 + 8 + 4 + 8
	if nKV > uint64(d.remaining())/minKV {
		return fmt.Errorf("%w: metadata count %d does not fit in the %d bytes after offset %d",
			ErrFormat, nKV, d.remaining(), d.pos)
	}
	if nTensors > uint64(d.remaining())/minTensor {
		return fmt.Errorf("%w: tensor count %d does not fit in the %d bytes after offset %d",
			ErrFormat, nTensors, d.remaining(), d.pos)
	}

	for i := uint64(0); i < nKV; i++ {
		start := d.pos
		key, err := d.str(fmt.Sprintf("key of metadata entry %d", i))
		if err != nil {
			return err
		}
		if _, dup := f.Meta.Get(key); dup {
			return fmt.Errorf("%w: duplicate metadata key %q at offset %d", ErrFormat, key, start)
		}
		v, err := d.value(key)
		if err != nil {
			return err
		}
		f.Meta.set(key, v)
	}

	f.Alignment = DefaultAlignment
	if v, ok := f.Meta.Get(KeyAlignment); ok {
		a, ok := v.(uint32)
		if !ok {
			return fmt.Errorf("%w: %s has type %s, want uint32", ErrFormat, KeyAlignment, typeName(v))
		}
		if a == 0 || a&(a-1) != 0 {
			return fmt.Errorf("%w: %s = %d is not a power of two", ErrFormat, KeyAlignment, a)
		}
		f.Alignment = uint64(a)
	}

	f.Tensors = make([]TensorInfo, 0, nTensors)
	f.index = make(map[string]int, nTensors)
	for i := uint64(0); i < nTensors; i++ {
		t, err := d.tensorInfo(i)
		if err != nil {
			return err
		}
		if _, dup := f.index[t.Name]; dup {
			return fmt.Errorf("%w: duplicate tensor name %q (tensor %d)", ErrFormat, t.Name, i)
		}
		f.index[t.Name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, t)
	}

	// The data section starts at the next multiple of the alignment. With
	// no tensors that may lie past the end of the file, as ggml allows.
	dataOff := (uint64(d.pos) + f.Alignment - 1) &^ (f.Alignment - 1)
	if dataOff > math.MaxInt64 {
		return fmt.Errorf("%w: data offset overflows", ErrFormat)
	}
	f.DataOffset = int64(dataOff)
	return f.checkLayout()
}

// checkLayout verifies that every tensor is aligned, lies inside the file
// and overlaps no other tensor.
func (f *File) checkLayout() error {
	var avail uint64
	if f.Size > f.DataOffset {
		avail = uint64(f.Size - f.DataOffset)
	}
	order := make([]int, len(f.Tensors))
	for i, t := range f.Tensors {
		order[i] = i
		if t.Offset%f.Alignment != 0 {
			return fmt.Errorf("%w: tensor %q: offset %d is not a multiple of the alignment %d",
				ErrFormat, t.Name, t.Offset, f.Alignment)
		}
		n := t.Bytes()
		if t.Offset > avail || n > avail-t.Offset {
			return fmt.Errorf("%w: tensor %q: data [%d, +%d) at file offset %d extends past the end of the file (%d bytes)",
				ErrFormat, t.Name, t.Offset, n, f.DataOffset, f.Size)
		}
	}
	// Nothing may follow the data: ggml pads the last tensor to the
	// alignment and stops, and Ollama refuses a file with more.
	var end uint64
	for _, t := range f.Tensors {
		end = max(end, t.Offset+t.Bytes())
	}
	if len(f.Tensors) > 0 {
		if limit := (end + f.Alignment - 1) &^ (f.Alignment - 1); avail > limit {
			return fmt.Errorf("%w: %d bytes follow the tensor data (which ends at byte %d of %d)",
				ErrFormat, avail-limit, uint64(f.DataOffset)+end, f.Size)
		}
	} else if f.Size > f.DataOffset {
		return fmt.Errorf("%w: %d bytes follow the header of a file with no tensors", ErrFormat, f.Size-f.DataOffset)
	}
	slices.SortFunc(order, func(a, b int) int {
		ta, tb := f.Tensors[a], f.Tensors[b]
		if ta.Offset != tb.Offset {
			if ta.Offset < tb.Offset {
				return -1
			}
			return 1
		}
		return a - b
	})
	for k := 1; k < len(order); k++ {
		prev, cur := f.Tensors[order[k-1]], f.Tensors[order[k]]
		if prev.Offset+prev.Bytes() > cur.Offset {
			return fmt.Errorf("%w: tensor %q at data offset %d overlaps tensor %q at data offset %d (%d bytes)",
				ErrFormat, cur.Name, cur.Offset, prev.Name, prev.Offset, prev.Bytes())
		}
	}
	return nil
}

// decoder reads the header sequentially, tracking its position so that no
// length or count is trusted beyond the bytes that remain.
type decoder struct {
	r       *bufio.Reader
	pos     int64
	size    int64
	scratch [8]byte
}

func (d *decoder) remaining() int64 { return d.size - d.pos }

// bytes reads exactly n bytes, which must fit in the remaining input.
func (d *decoder) bytes(n uint64, what string) ([]byte, error) {
	if n > uint64(d.remaining()) {
		return nil, fmt.Errorf("%w: %s at offset %d: need %d bytes, %d remain: %w",
			ErrFormat, what, d.pos, n, d.remaining(), io.ErrUnexpectedEOF)
	}
	var buf []byte
	if n <= uint64(len(d.scratch)) {
		buf = d.scratch[:n]
	} else {
		buf = make([]byte, n)
	}
	if _, err := io.ReadFull(d.r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w: %s at offset %d: %w", ErrFormat, what, d.pos, err)
	}
	d.pos += int64(n)
	return buf, nil
}

func (d *decoder) u32(what string) (uint32, error) {
	b, err := d.bytes(4, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (d *decoder) u64(what string) (uint64, error) {
	b, err := d.bytes(8, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

func (d *decoder) str(what string) (string, error) {
	start := d.pos
	n, err := d.u64("length")
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if n > uint64(d.remaining()) {
		return "", fmt.Errorf("%w: %s at offset %d: length %d exceeds the %d remaining bytes",
			ErrFormat, what, start, n, d.remaining())
	}
	b, err := d.bytes(n, what)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// value reads a typed metadata value.
func (d *decoder) value(key string) (any, error) {
	start := d.pos
	typ, err := d.u32(fmt.Sprintf("type of key %q", key))
	if err != nil {
		return nil, err
	}
	if typ == gtArray {
		return d.array(key)
	}
	if typ >= uint32(len(gtSize)) {
		return nil, fmt.Errorf("%w: key %q at offset %d: unknown value type %d", ErrFormat, key, start, typ)
	}
	what := fmt.Sprintf("value of key %q", key)
	if typ == gtString {
		return d.str(what)
	}
	b, err := d.bytes(uint64(gtSize[typ]), what)
	if err != nil {
		return nil, err
	}
	return scalar(typ, b), nil
}

// scalar decodes a fixed-size value of type typ from b.
func scalar(typ uint32, b []byte) any {
	le := binary.LittleEndian
	switch typ {
	case gtUint8:
		return b[0]
	case gtInt8:
		return int8(b[0])
	case gtUint16:
		return le.Uint16(b)
	case gtInt16:
		return int16(le.Uint16(b))
	case gtUint32:
		return le.Uint32(b)
	case gtInt32:
		return int32(le.Uint32(b))
	case gtFloat32:
		return math.Float32frombits(le.Uint32(b))
	case gtBool:
		return b[0] != 0
	case gtUint64:
		return le.Uint64(b)
	case gtInt64:
		return int64(le.Uint64(b))
	case gtFloat64:
		return math.Float64frombits(le.Uint64(b))
	}
	return nil
}

func (d *decoder) array(key string) (any, error) {
	start := d.pos
	et, err := d.u32(fmt.Sprintf("array element type of key %q", key))
	if err != nil {
		return nil, err
	}
	n, err := d.u64(fmt.Sprintf("array length of key %q", key))
	if err != nil {
		return nil, err
	}
	switch {
	case et == gtArray:
		return nil, fmt.Errorf("%w: key %q at offset %d: nested arrays are not supported", ErrFormat, key, start)
	case et >= uint32(len(gtSize)):
		return nil, fmt.Errorf("%w: key %q at offset %d: unknown array element type %d", ErrFormat, key, start, et)
	}
	what := fmt.Sprintf("array of key %q", key)
	if et == gtString {
		// Every string takes at least its 8-byte length.
		if n > uint64(d.remaining())/8 {
			return nil, fmt.Errorf("%w: %s at offset %d: %d strings cannot fit in the %d remaining bytes",
				ErrFormat, what, start, n, d.remaining())
		}
		out := make([]string, n)
		for i := range out {
			// A constant description keeps large vocabularies cheap; the
			// index and key are added only on failure.
			if out[i], err = d.str("string"); err != nil {
				return nil, fmt.Errorf("element %d of %s: %w", i, what, err)
			}
		}
		return out, nil
	}
	es := uint64(gtSize[et])
	if n > uint64(d.remaining())/es {
		return nil, fmt.Errorf("%w: %s at offset %d: %d elements of %d bytes exceed the %d remaining bytes",
			ErrFormat, what, start, n, es, d.remaining())
	}
	b, err := d.bytes(n*es, what)
	if err != nil {
		return nil, err
	}
	return decodeArray(et, n, b), nil
}

func decodeArray(et uint32, n uint64, b []byte) any {
	le := binary.LittleEndian
	switch et {
	case gtUint8:
		return slices.Clone(b)
	case gtInt8:
		return decodeEach(b, n, 1, func(p []byte) int8 { return int8(p[0]) })
	case gtBool:
		return decodeEach(b, n, 1, func(p []byte) bool { return p[0] != 0 })
	case gtUint16:
		return decodeEach(b, n, 2, le.Uint16)
	case gtInt16:
		return decodeEach(b, n, 2, func(p []byte) int16 { return int16(le.Uint16(p)) })
	case gtUint32:
		return decodeEach(b, n, 4, le.Uint32)
	case gtInt32:
		return decodeEach(b, n, 4, func(p []byte) int32 { return int32(le.Uint32(p)) })
	case gtFloat32:
		return decodeEach(b, n, 4, func(p []byte) float32 { return math.Float32frombits(le.Uint32(p)) })
	case gtUint64:
		return decodeEach(b, n, 8, le.Uint64)
	case gtInt64:
		return decodeEach(b, n, 8, func(p []byte) int64 { return int64(le.Uint64(p)) })
	case gtFloat64:
		return decodeEach(b, n, 8, func(p []byte) float64 { return math.Float64frombits(le.Uint64(p)) })
	}
	return nil
}

// decodeEach decodes n elements of size bytes each from b.
func decodeEach[T any](b []byte, n uint64, size int, decode func([]byte) T) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = decode(b[size*i:])
	}
	return out
}

func (d *decoder) tensorInfo(i uint64) (TensorInfo, error) {
	var t TensorInfo
	start := d.pos
	name, err := d.str(fmt.Sprintf("name of tensor %d", i))
	if err != nil {
		return t, err
	}
	t.Name = name
	nDims, err := d.u32(fmt.Sprintf("dimension count of tensor %q", name))
	if err != nil {
		return t, err
	}
	if nDims == 0 || nDims > maxDims {
		return t, fmt.Errorf("%w: tensor %q at offset %d: %d dimensions, want 1 to %d",
			ErrFormat, name, start, nDims, maxDims)
	}
	t.Shape = make([]uint64, nDims)
	elems := uint64(1)
	for j := range t.Shape {
		dim, err := d.u64(fmt.Sprintf("dimension %d of tensor %q", j, name))
		if err != nil {
			return t, err
		}
		if dim == 0 {
			return t, fmt.Errorf("%w: tensor %q at offset %d: dimension %d is zero", ErrFormat, name, start, j)
		}
		hi, lo := bits.Mul64(elems, dim)
		if hi != 0 || lo > math.MaxInt64 {
			return t, fmt.Errorf("%w: tensor %q at offset %d: element count overflows (shape so far %v)",
				ErrFormat, name, start, t.Shape[:j+1])
		}
		elems = lo
		t.Shape[j] = dim
	}
	typ, err := d.u32(fmt.Sprintf("type of tensor %q", name))
	if err != nil {
		return t, err
	}
	t.Type = Type(typ)
	if !t.Type.Known() {
		return t, fmt.Errorf("%w: tensor %q at offset %d: unknown tensor type %d", ErrFormat, name, start, typ)
	}
	if bs := t.Type.BlockSize(); t.Shape[0]%bs != 0 {
		return t, fmt.Errorf("%w: tensor %q at offset %d: row length %d is not a multiple of the %s block size %d",
			ErrFormat, name, start, t.Shape[0], t.Type, bs)
	}
	// Quantized types are smaller than one byte per element, but F32 takes
	// 4 and F64 8: check the byte count of a row and of the whole tensor
	// (RowBytes would wrap around for a row of 2^62 F32 elements, making a
	// huge tensor look like a few bytes).
	hi, row := bits.Mul64(t.Shape[0]/t.Type.BlockSize(), t.Type.BlockBytes())
	if hi != 0 || row > math.MaxInt64 {
		return t, fmt.Errorf("%w: tensor %q at offset %d: byte size of a row overflows", ErrFormat, name, start)
	}
	hi, lo := bits.Mul64(row, elems/t.Shape[0])
	if hi != 0 || lo > math.MaxInt64 {
		return t, fmt.Errorf("%w: tensor %q at offset %d: byte size overflows", ErrFormat, name, start)
	}
	if t.Offset, err = d.u64(fmt.Sprintf("data offset of tensor %q", name)); err != nil {
		return t, err
	}
	return t, nil
}
