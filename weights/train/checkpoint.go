package train

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"reflect"
	"slices"

	"github.com/fastslow/fastslow/internal/atomicfile"
	"github.com/fastslow/fastslow/weights/llama"
)

// A checkpoint file is little-endian:
//
//	header   magic "FSTRAIN\x00", version uint32, reserved uint32, body length uint64
//	body     trajectory options as JSON (uint32 length + bytes)
//	         data fingerprint [32]byte, number of sequences uint64
//	         step, total steps, epoch, offset in epoch, loss tokens seen: uint64 each
//	         losses so far: uint64 count + float64 values
//	         AdamW step count uint64
//	         parameter count uint32, then per parameter:
//	           name (uint32 length + bytes), dims (uint32 count + uint64 each), element count uint64,
//	           values, first moments, second moments: float32 each
//	trailer  CRC-32C (Castagnoli) of header and body, uint32
//
// The body length in the header detects truncation before anything is parsed; the checksum is
// verified over the whole file before any value is used.
const (
	ckptMagic      = "FSTRAIN\x00"
	ckptVersion    = 1
	ckptHeaderSize = 8 + 4 + 4 + 8
	ckptMaxName    = 1 << 12
	ckptMaxDims    = 8
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorruptCheckpoint is wrapped by every error about a checkpoint file that is truncated, damaged
// or not a checkpoint at all.
var ErrCorruptCheckpoint = errors.New("corrupt checkpoint")

// runState is everything a checkpoint stores besides the parameters and moments, which it reads from
// and writes to the live tensors.
type runState struct {
	traj     trajectory
	dataHash [32]byte
	nData    int
	step     int
	total    int
	tokens   int64
	losses   []float64
}

// cursor returns the epoch and the position within it of the next sequence to train on.
func (s *runState) cursor(batchSize int) (epoch, offset int) {
	k := s.step * batchSize
	return k / s.nData, k % s.nData
}

// saveCheckpoint atomically replaces path with the state of a run.
func saveCheckpoint(path string, st *runState, params []*llama.Param, opt *AdamW) error {
	traj, err := json.Marshal(st.traj)
	if err != nil {
		return fmt.Errorf("train: save checkpoint: %w", err)
	}
	bodyLen := int64(4 + len(traj) + 32 + 8 + 5*8 + 8 + 8*len(st.losses) + 8 + 4)
	for _, p := range params {
		bodyLen += int64(4 + len(p.Name) + 4 + 8*len(p.Shape) + 8 + 3*4*len(p.Data))
	}
	epoch, offset := st.cursor(st.traj.BatchSize)

	err = atomicfile.WriteFile(path, 0o644, func(w io.Writer) error {
		crc := crc32.New(castagnoli)
		e := &encoder{w: io.MultiWriter(w, crc)}
		e.bytes([]byte(ckptMagic))
		e.u32(ckptVersion)
		e.u32(0)
		e.u64(uint64(bodyLen))
		e.u32(uint32(len(traj)))
		e.bytes(traj)
		e.bytes(st.dataHash[:])
		e.u64(uint64(st.nData))
		for _, v := range []int{st.step, st.total, epoch, offset} {
			e.u64(uint64(v))
		}
		e.u64(uint64(st.tokens))
		e.u64(uint64(len(st.losses)))
		for _, l := range st.losses {
			e.u64(math.Float64bits(l))
		}
		e.u64(uint64(opt.t))
		e.u32(uint32(len(params)))
		for i, p := range params {
			e.u32(uint32(len(p.Name)))
			e.bytes([]byte(p.Name))
			e.u32(uint32(len(p.Shape)))
			for _, d := range p.Shape {
				e.u64(uint64(d))
			}
			e.u64(uint64(len(p.Data)))
			e.f32s(p.Data)
			e.f32s(opt.m[i])
			e.f32s(opt.v[i])
		}
		if e.err == nil && e.n != ckptHeaderSize+bodyLen {
			return fmt.Errorf("wrote %d bytes, expected %d", e.n, ckptHeaderSize+bodyLen)
		}
		e.u32(crc.Sum32())
		return e.err
	})
	if err != nil {
		return fmt.Errorf("train: save checkpoint: %w", err)
	}
	return nil
}

// encoder writes little-endian values and remembers the first error.
type encoder struct {
	w   io.Writer
	n   int64
	err error
	buf [1 << 16]byte
}

func (e *encoder) bytes(b []byte) {
	if e.err != nil {
		return
	}
	n, err := e.w.Write(b)
	e.n += int64(n)
	e.err = err
}

func (e *encoder) u32(v uint32) { e.bytes(binary.LittleEndian.AppendUint32(e.buf[:0], v)) }
func (e *encoder) u64(v uint64) { e.bytes(binary.LittleEndian.AppendUint64(e.buf[:0], v)) }

func (e *encoder) f32s(xs []float32) {
	for len(xs) > 0 && e.err == nil {
		n := min(len(xs), len(e.buf)/4)
		for i, x := range xs[:n] {
			binary.LittleEndian.PutUint32(e.buf[4*i:], math.Float32bits(x))
		}
		e.bytes(e.buf[:4*n])
		xs = xs[n:]
	}
}

// checkpoint is a verified checkpoint file whose tensors have not been read yet.
type checkpoint struct {
	path     string
	trajJSON []byte
	state    runState
	epoch    int
	offset   int
	adamT    int
	params   []ckptParam
}

// ckptParam describes one stored tensor; its values start at off, followed by its two moments.
type ckptParam struct {
	name  string
	shape []int
	count int
	off   int64
}

// openCheckpoint verifies the checksum of the checkpoint at path and reads everything but the
// tensors. A missing file gives an error wrapping fs.ErrNotExist; a damaged one, ErrCorruptCheckpoint.
func openCheckpoint(path string) (*checkpoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w: %s", path, ErrCorruptCheckpoint, fmt.Sprintf(format, args...))
	}
	size := fi.Size()
	var hdr [ckptHeaderSize]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return nil, corrupt("%d bytes is too short for a header", size)
	}
	if string(hdr[:8]) != ckptMagic {
		return nil, corrupt("not a training checkpoint (magic %q)", hdr[:8])
	}
	if v := binary.LittleEndian.Uint32(hdr[8:]); v != ckptVersion {
		return nil, corrupt("format version %d, this build reads version %d", v, ckptVersion)
	}
	bodyLen := binary.LittleEndian.Uint64(hdr[16:])
	if want := uint64(ckptHeaderSize) + bodyLen + 4; bodyLen > uint64(size) || want != uint64(size) {
		return nil, corrupt("truncated or extended: header promises %d bytes, file has %d", want, size)
	}

	// Verify the whole file before trusting any count in it.
	crc := crc32.New(castagnoli)
	if _, err := io.Copy(crc, io.NewSectionReader(f, 0, size-4)); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var trailer [4]byte
	if _, err := f.ReadAt(trailer[:], size-4); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if got, want := crc.Sum32(), binary.LittleEndian.Uint32(trailer[:]); got != want {
		return nil, corrupt("checksum %08x does not match stored %08x", got, want)
	}

	d := &decoder{r: bufio.NewReader(io.NewSectionReader(f, ckptHeaderSize, int64(bodyLen))), off: ckptHeaderSize, end: ckptHeaderSize + int64(bodyLen)}
	ck := &checkpoint{path: path}
	ck.trajJSON = d.bytes(int(d.u32()))
	if d.err == nil {
		if err := json.Unmarshal(ck.trajJSON, &ck.state.traj); err != nil {
			return nil, corrupt("options: %v", err)
		}
	}
	copy(ck.state.dataHash[:], d.bytes(32))
	ck.state.nData = d.int()
	ck.state.step = d.int()
	ck.state.total = d.int()
	ck.epoch = d.int()
	ck.offset = d.int()
	ck.state.tokens = int64(d.int())
	nLoss := d.int()
	if d.err == nil && nLoss > int(d.end-d.off)/8 {
		return nil, corrupt("%d losses do not fit", nLoss)
	}
	for range nLoss {
		ck.state.losses = append(ck.state.losses, math.Float64frombits(d.u64()))
	}
	ck.adamT = d.int()
	nParams := int(d.u32())
	for i := 0; i < nParams && d.err == nil; i++ {
		var p ckptParam
		nameLen := int(d.u32())
		if nameLen > ckptMaxName {
			return nil, corrupt("parameter %d name of %d bytes", i, nameLen)
		}
		p.name = string(d.bytes(nameLen))
		ndim := int(d.u32())
		if ndim > ckptMaxDims {
			return nil, corrupt("parameter %q has %d dimensions", p.name, ndim)
		}
		for range ndim {
			p.shape = append(p.shape, d.int())
		}
		p.count = d.int()
		if d.err == nil && p.count > int(d.end-d.off)/12 {
			return nil, corrupt("parameter %q of %d values does not fit", p.name, p.count)
		}
		p.off = d.off
		d.skip(12 * int64(p.count))
		ck.params = append(ck.params, p)
	}
	if d.err != nil {
		return nil, corrupt("%v", d.err)
	}
	if d.off != d.end {
		return nil, corrupt("%d unread bytes after the last tensor", d.end-d.off)
	}
	if ck.state.nData <= 0 || ck.state.step > ck.state.total || len(ck.state.losses) != ck.state.step ||
		ck.adamT != ck.state.traj.OptimizerStart+ck.state.step {
		return nil, corrupt("inconsistent state: step %d of %d, %d losses, optimizer step %d, %d sequences",
			ck.state.step, ck.state.total, len(ck.state.losses), ck.adamT, ck.state.nData)
	}
	return ck, nil
}

// decoder reads little-endian values from a body of known length and remembers the first error.
type decoder struct {
	r        *bufio.Reader
	off, end int64
	err      error
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || int64(n) > d.end-d.off {
		d.err = fmt.Errorf("field of %d bytes at offset %d overruns the body", n, d.off)
		return nil
	}
	b := make([]byte, n)
	_, d.err = io.ReadFull(d.r, b)
	d.off += int64(n)
	return b
}

func (d *decoder) skip(n int64) {
	if d.err != nil {
		return
	}
	if n > d.end-d.off {
		d.err = fmt.Errorf("field of %d bytes at offset %d overruns the body", n, d.off)
		return
	}
	_, d.err = d.r.Discard(int(n))
	d.off += n
}

func (d *decoder) u32() uint32 {
	if b := d.bytes(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if b := d.bytes(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// int reads a uint64 that must fit in an int.
func (d *decoder) int() int {
	v := d.u64()
	if v > math.MaxInt && d.err == nil {
		d.err = fmt.Errorf("count %d at offset %d is out of range", v, d.off-8)
	}
	return int(v)
}

// check reports why the checkpoint cannot continue a run with the given state and parameters.
func (ck *checkpoint) check(st *runState, params []*llama.Param) error {
	if ck.state.traj != st.traj {
		return fmt.Errorf("train: checkpoint %s was made with different options (%s); delete it or restore them",
			ck.path, trajDiff(ck.state.traj, st.traj))
	}
	if ck.state.nData != st.nData || ck.state.dataHash != st.dataHash {
		return fmt.Errorf("train: checkpoint %s was made on different data (%d sequences then, %d now, or different tokens)",
			ck.path, ck.state.nData, st.nData)
	}
	if ck.state.total != st.total {
		return fmt.Errorf("train: checkpoint %s is for %d steps, this run has %d", ck.path, ck.state.total, st.total)
	}
	if e, o := ck.state.cursor(st.traj.BatchSize); e != ck.epoch || o != ck.offset {
		return fmt.Errorf("train: checkpoint %s: data position epoch %d offset %d does not follow from step %d (expected epoch %d offset %d)",
			ck.path, ck.epoch, ck.offset, ck.state.step, e, o)
	}
	if len(ck.params) != len(params) {
		return fmt.Errorf("train: checkpoint %s has %d parameters, the model has %d", ck.path, len(ck.params), len(params))
	}
	for i, p := range params {
		c := ck.params[i]
		if c.name != p.Name || !slices.Equal(c.shape, p.Shape) || c.count != len(p.Data) {
			return fmt.Errorf("train: checkpoint %s parameter %d is %q %v, the model's is %q %v",
				ck.path, i, c.name, c.shape, p.Name, p.Shape)
		}
	}
	return nil
}

// trajDiff names the fields that differ between two trajectories.
func trajDiff(a, b trajectory) string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var s string
	for i := range va.NumField() {
		if fa, fb := va.Field(i).Interface(), vb.Field(i).Interface(); fa != fb {
			if s != "" {
				s += ", "
			}
			s += fmt.Sprintf("%s %v then, %v now", va.Type().Field(i).Name, fa, fb)
		}
	}
	return s
}

// load copies the stored tensors and moments into params and opt, and the run state into st. It
// must follow a successful check.
func (ck *checkpoint) load(st *runState, params []*llama.Param, opt *AdamW) error {
	f, err := os.Open(ck.path)
	if err != nil {
		return fmt.Errorf("train: load checkpoint: %w", err)
	}
	defer f.Close()
	buf := make([]byte, 1<<16)
	read := func(dst []float32, off int64) error {
		for len(dst) > 0 {
			n := min(len(dst), len(buf)/4)
			if _, err := f.ReadAt(buf[:4*n], off); err != nil {
				return err
			}
			for i := range dst[:n] {
				dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
			}
			dst, off = dst[n:], off+int64(4*n)
		}
		return nil
	}
	for i, p := range params {
		c := ck.params[i]
		n := int64(4 * c.count)
		for j, dst := range [][]float32{p.Data, opt.m[i], opt.v[i]} {
			if err := read(dst, c.off+int64(j)*n); err != nil {
				// The checksum matched moments ago, so the file changed under us; the tensors
				// are now a mix and the caller must not use them.
				return fmt.Errorf("train: load checkpoint %s: parameters partly overwritten: %w", ck.path, err)
			}
		}
	}
	opt.t = ck.adamT
	st.step = ck.state.step
	st.tokens = ck.state.tokens
	st.losses = slices.Clone(ck.state.losses)
	return nil
}
