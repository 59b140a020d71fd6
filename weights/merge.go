package weights

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
)

// MergedType says how Merge encodes the tensors a LoRA adapter changed.
type MergedType string

const (
	// MergedSame re-encodes each adapted tensor in the type the base stores it in (a Q4_K matrix stays Q4_K),
	// with the project's ports of ggml's reference quantizers. The merged file then has the base's size and
	// speed; quantization may erase part of a small update (Merged reports how much survived).
	MergedSame MergedType = "same"
	// MergedF16 writes the adapted tensors as F16: larger than a quantized base, but the update survives.
	MergedF16 MergedType = "f16"
	// MergedF32 writes the adapted tensors as F32.
	MergedF32 MergedType = "f32"
)

// MergedTypes lists the merged types by name.
func MergedTypes() []string {
	return []string{string(MergedSame), string(MergedF16), string(MergedF32)}
}

// ParseMergedType reads a merged type by name; "" is MergedSame.
func ParseMergedType(s string) (MergedType, error) {
	switch t := MergedType(s); t {
	case "", MergedSame:
		return MergedSame, nil
	case MergedF16, MergedF32:
		return t, nil
	}
	return "", fmt.Errorf("unknown merged type %q (want %s, %s or %s)", s, MergedSame, MergedF16, MergedF32)
}

// MergeOptions configure Merge.
type MergeOptions struct {
	// Type encodes the adapted tensors (default MergedSame).
	Type MergedType
	// Probe is the text whose logits the read-back check compares (default ProbeText).
	Probe string
}

// ProbeText is the default text of Merge's read-back check.
const ProbeText = "The quick brown fox jumps over the lazy dog. 1 2 3"

// MergedTensor describes one tensor Merge changed.
type MergedTensor struct {
	Name string
	// BaseType is the tensor's type in the base file, Type its type in the merged file.
	BaseType, Type gguf.Type
	// Update is the Frobenius norm of the update scale·B·A.
	Update float64
	// Retained is the share of the update the written tensor carries: ⟨W″−W, U⟩/‖U‖², where W is the base
	// tensor, U the update and W″ the merged tensor as written (after encoding). 1 for an exact encoding;
	// near 0 when quantization rounds the update away. NaN for a zero update.
	Retained float64
}

// Merged is a merged model written by Merge and read back.
type Merged struct {
	// Model runs the merged weights exactly as written: it shares the base's unchanged tensors and holds
	// the adapted ones as the merged file stores them (decoded, and in their stored form for inference with
	// Precision.Quantized). The read-back check found its logits equal, bit for bit, to those of the file
	// loaded from disk. Its Precision is the base's, with F16Weights as the loader sets it for the merged
	// file (on when its attn_q is F16) unless the base's differs from the loader's choice.
	Model *Model
	// Path is the merged GGUF file, Size its size in bytes.
	Path string
	Size int64
	// Tensors lists the adapted tensors in file order.
	Tensors []MergedTensor
	// Drift is the largest absolute difference between the logits of Model and of the base with the adapter
	// applied, over the probe's positions, both computed in float32 (llama.Precision{}): what encoding the
	// merge cost. 0 up to float32 rounding for MergedF32.
	Drift float64
	// ProbeTokens is the number of probe tokens the checks ran on.
	ProbeTokens int
}

// Retained returns the share of the whole update (all adapted tensors together) the merged file carries; see
// MergedTensor.Retained.
func (m *Merged) Retained() float64 {
	var dot, norm float64
	for _, t := range m.Tensors {
		if t.Update > 0 && !math.IsNaN(t.Retained) {
			dot += t.Retained * t.Update * t.Update
			norm += t.Update * t.Update
		}
	}
	if norm == 0 {
		return math.NaN()
	}
	return dot / norm
}

// Merge folds the LoRA adapter a into the base model and writes the result to outPath as a whole GGUF model:
// every adapted matrix becomes W + scale·B·A (scale = alpha/rank, 1 when alpha is 0, as llama.cpp applies an
// adapter), encoded as opt.Type says; every other tensor is copied byte for byte from the base file at
// basePath, and so is the metadata. base must be the model loaded from basePath (checked on the adapted
// tensors; an empty basePath means base.Path) and a an adapter of it. Merged.Model.Path is outPath.
//
// The file is then read back and checked as VerifyMerged does before Merge returns. A file that fails the
// check is removed and an error returned, so nothing unchecked is ever deployed.
func Merge(ctx context.Context, base *Model, basePath string, a *llama.Adapter, outPath string, opt MergeOptions) (*Merged, error) {
	p, err := planMerge(ctx, base, basePath, a, opt)
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	defer p.base.Close()
	w := gguf.NewWriter()
	for _, kv := range p.base.Meta.All() {
		if err := w.Set(kv.Key, kv.Value); err != nil {
			return nil, fmt.Errorf("merge: copy metadata: %w", err)
		}
	}
	for _, info := range p.base.Tensors {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		typ := info.Type
		raw := p.stored[info.Name].raw
		if raw != nil {
			typ = p.stored[info.Name].typ
		} else if raw, err = p.base.Raw(info.Name); err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		if err := w.AddRawTensor(info.Name, typ, info.Shape, raw); err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
	}
	if err := w.WriteFile(outPath); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	p.out.Path, p.out.Model.Path = outPath, outPath
	if err := p.check(ctx, base, a, opt.Probe); err != nil {
		os.Remove(outPath)
		return nil, fmt.Errorf("merge: %s failed its read-back check: %w", outPath, err)
	}
	return p.out, nil
}

// MergeInMemory computes the merge that Merge would write, without writing or checking a file:
// Merged.Model runs exactly the weights a file written by Merge holds (Path, Size, Drift and ProbeTokens are
// zero). It serves to score a merged deploy, say against a forgetting budget, before deciding to write one.
func MergeInMemory(ctx context.Context, base *Model, basePath string, a *llama.Adapter, opt MergeOptions) (*Merged, error) {
	p, err := planMerge(ctx, base, basePath, a, opt)
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	p.base.Close()
	return p.out, nil
}

// VerifyMerged checks that the file at path is the merge of adapter a into the base model (loaded from
// basePath) that Merge with opt writes, and returns it as Merge would. It computes the merge again and
// compares: the same metadata, tensor names, shapes and types, the unchanged tensors' bytes equal to the
// base's and the adapted ones to their encoding, and the engine's logits on the file (loaded as Load does)
// equal, bit for bit, to those of Merged.Model on the probe text. Use it before serving a merged file kept on
// disk again.
func VerifyMerged(ctx context.Context, base *Model, basePath string, a *llama.Adapter, path string, opt MergeOptions) (*Merged, error) {
	p, err := planMerge(ctx, base, basePath, a, opt)
	if err != nil {
		return nil, fmt.Errorf("verify merged: %w", err)
	}
	defer p.base.Close()
	p.out.Path, p.out.Model.Path = path, path
	if err := p.check(ctx, base, a, opt.Probe); err != nil {
		return nil, fmt.Errorf("verify merged %s: %w", path, err)
	}
	return p.out, nil
}

// mergePlan is a merge computed in memory: the adapted tensors' encodings and the model that runs them.
type mergePlan struct {
	base   *gguf.File // the base file, open; the caller closes it
	out    *Merged
	stored map[string]storedForm // adapted tensors by name
}

func planMerge(ctx context.Context, base *Model, basePath string, a *llama.Adapter, opt MergeOptions) (*mergePlan, error) {
	mt, err := ParseMergedType(string(opt.Type))
	if err != nil {
		return nil, err
	}
	if base == nil || a == nil {
		return nil, errors.New("nil model or adapter")
	}
	if basePath == "" {
		basePath = base.Path
	}
	if basePath == "" {
		return nil, errors.New("the base model has no GGUF file to merge into (load it with Load)")
	}
	if a.Architecture() != base.Config.Architecture() {
		return nil, fmt.Errorf("adapter made for a %s model, base is %s", a.Architecture(), base.Config.Architecture())
	}
	updates, err := adapterUpdates(base.Model, a)
	if err != nil {
		return nil, err
	}
	f, err := gguf.Open(basePath)
	if err != nil {
		return nil, err
	}
	p := &mergePlan{base: f, out: &Merged{}, stored: map[string]storedForm{}}
	replaced := map[string][]float32{}
	fail := func(err error) (*mergePlan, error) {
		f.Close()
		return nil, err
	}
	for _, info := range f.Tensors {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		u, adapted := updates[info.Name]
		if !adapted {
			continue
		}
		raw, err := f.Raw(info.Name)
		if err != nil {
			return fail(err)
		}
		t, data, enc, err := mergeTensor(info, raw, u, mt)
		if err != nil {
			return fail(err)
		}
		p.out.Tensors = append(p.out.Tensors, t)
		replaced[info.Name] = data
		p.stored[info.Name] = storedForm{t.Type, enc}
		delete(updates, info.Name)
	}
	for name := range updates {
		return fail(fmt.Errorf("the adapter changes %s, which %s does not have", name, basePath))
	}
	lm, err := base.Model.WithTensors(replaced)
	if err != nil {
		return fail(err)
	}
	for name, s := range p.stored {
		if slices.Contains(llama.QuantizedTypes(), s.typ) {
			if err := lm.SetQuantized(name, s.typ, s.raw); err != nil {
				return fail(err)
			}
		}
	}
	// The loader turns F16Weights on for a file whose attn_q is F16; follow it unless the caller chose otherwise.
	lm.Precision = base.Precision
	if info, ok := f.Tensor("blk.0.attn_q.weight"); ok && base.Precision.F16Weights == (info.Type == gguf.TypeF16) {
		t := info.Type
		if s, ok := p.stored[info.Name]; ok {
			t = s.typ
		}
		lm.Precision.F16Weights = t == gguf.TypeF16
	}
	p.out.Model = &Model{Model: lm, Tokenizer: base.Tokenizer, Name: base.Name, ChatTemplate: base.ChatTemplate,
		EOG: slices.Clone(base.EOG), Path: ""}
	return p, nil
}

// storedForm is a tensor's encoding in the merged file.
type storedForm struct {
	typ gguf.Type
	raw []byte
}

// loraUpdate is one adapted matrix's A ([r][in]), B ([out][r]) and scale.
type loraUpdate struct {
	a, b         []float32
	in, out, r   int
	scale        float32
	matrixParams *llama.Param
	model        *llama.Model
}

// values returns the base matrix's float32 values (decoded when the base keeps it encoded).
func (u *loraUpdate) values() []float32 { return u.model.TensorValues(u.matrixParams) }

// adapterUpdates indexes a's tensor pairs by the base tensor they adapt.
func adapterUpdates(m *llama.Model, a *llama.Adapter) (map[string]*loraUpdate, error) {
	ups := map[string]*loraUpdate{}
	r := a.Config.Rank
	for _, p := range a.Params() {
		name, isA := strings.CutSuffix(p.Name, ".lora_a")
		if !isA {
			name, _ = strings.CutSuffix(p.Name, ".lora_b")
		}
		w, ok := m.Tensor(name)
		if !ok || len(w.Shape) != 2 {
			return nil, fmt.Errorf("adapter tensor %s adapts %s, which the base does not have", p.Name, name)
		}
		u := ups[name]
		if u == nil {
			u = &loraUpdate{in: w.Shape[0], out: w.Shape[1], r: r, scale: a.Scale(), matrixParams: w, model: m}
			ups[name] = u
		}
		if isA {
			u.a = p.Data
		} else {
			u.b = p.Data
		}
	}
	for name, u := range ups {
		if len(u.a) != u.r*u.in || len(u.b) != u.out*u.r {
			return nil, fmt.Errorf("adapter of %s: A has %d values, B %d; want %d and %d", name, len(u.a), len(u.b), u.r*u.in, u.out*u.r)
		}
	}
	return ups, nil
}

// mergeTensor computes W + scale·B·A for one tensor of the base file, encodes it and returns its description,
// its values as decoded from the encoding, and the encoding.
func mergeTensor(info gguf.TensorInfo, raw []byte, u *loraUpdate, mt MergedType) (MergedTensor, []float32, []byte, error) {
	t := MergedTensor{Name: info.Name, BaseType: info.Type}
	switch mt {
	case MergedF16:
		t.Type = gguf.TypeF16
	case MergedF32:
		t.Type = gguf.TypeF32
	default:
		t.Type = info.Type
	}
	if len(info.Shape) != 2 || int(info.Shape[0]) != u.in || int(info.Shape[1]) != u.out {
		return t, nil, nil, fmt.Errorf("tensor %s has shape %v in the file, the adapter expects [%d %d]", info.Name, info.Shape, u.in, u.out)
	}
	w := make([]float32, u.in*u.out)
	if err := gguf.Dequantize(info.Type, raw, w); err != nil {
		return t, nil, nil, fmt.Errorf("tensor %s: %w", info.Name, err)
	}
	// The base model must be the one loaded from this file: its float32 weights are the file's, decoded.
	if !bitsEqual(w, u.values()) {
		return t, nil, nil, fmt.Errorf("tensor %s differs from the base model's: the model was not loaded from this file", info.Name)
	}
	upd := make([]float32, len(w))
	if err := llama.Gemm(false, false, u.out, u.in, u.r, u.scale, u.b, u.r, u.a, u.in, false, upd, u.in); err != nil {
		return t, nil, nil, fmt.Errorf("tensor %s: %w", info.Name, err)
	}
	merged := make([]float32, len(w))
	for i := range w {
		merged[i] = w[i] + upd[i]
	}
	enc, err := gguf.Quantize(t.Type, merged)
	if err != nil {
		return t, nil, nil, fmt.Errorf("tensor %s: %w (a merge can also write it as f16)", info.Name, err)
	}
	dec := make([]float32, len(w))
	if err := gguf.Dequantize(t.Type, enc, dec); err != nil {
		return t, nil, nil, fmt.Errorf("tensor %s: %w", info.Name, err)
	}
	var dot, norm float64
	for i := range upd {
		dot += float64(dec[i]-w[i]) * float64(upd[i])
		norm += float64(upd[i]) * float64(upd[i])
	}
	t.Update = math.Sqrt(norm)
	t.Retained = math.NaN()
	if norm > 0 {
		t.Retained = dot / norm
	}
	return t, dec, enc, nil
}

func bitsEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// check reads the merged file back: metadata, tensor table and bytes against the base file and the planned
// encodings, then the engine's logits on the loaded file against those of the planned model.
func (p *mergePlan) check(ctx context.Context, bm *Model, a *llama.Adapter, probe string) error {
	m, base, stored := p.out, p.base, p.stored
	g, err := gguf.Open(m.Path)
	if err != nil {
		return err
	}
	defer g.Close()
	m.Size = g.Size
	if !reflect.DeepEqual(g.Meta.All(), base.Meta.All()) {
		return errors.New("metadata differs from the base's")
	}
	if len(g.Tensors) != len(base.Tensors) {
		return fmt.Errorf("%d tensors, the base has %d", len(g.Tensors), len(base.Tensors))
	}
	for i, bt := range base.Tensors {
		if err := ctx.Err(); err != nil {
			return err
		}
		gt := g.Tensors[i]
		s, adapted := stored[bt.Name]
		want := bt.Type
		if adapted {
			want = s.typ
		}
		if gt.Name != bt.Name || !slices.Equal(gt.Shape, bt.Shape) || gt.Type != want {
			return fmt.Errorf("tensor %d is %s %v %s, want %s %v %s", i, gt.Name, gt.Shape, gt.Type, bt.Name, bt.Shape, want)
		}
		got, err := g.Raw(gt.Name)
		if err != nil {
			return err
		}
		if adapted {
			if !bytes.Equal(got, s.raw) {
				return fmt.Errorf("tensor %s: stored bytes differ from the encoding written", gt.Name)
			}
			continue
		}
		orig, err := base.Raw(bt.Name)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, orig) {
			return fmt.Errorf("tensor %s: bytes differ from the base's", gt.Name)
		}
	}
	loaded, err := fromFile(g, LoadOptions{})
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	if probe == "" {
		probe = ProbeText
	}
	toks := bm.Tokenizer.Encode(probe, true)
	if n := min(64, bm.Config.ContextLength); len(toks) > n {
		toks = toks[:n]
	}
	if len(toks) == 0 {
		return errors.New("the probe text has no tokens")
	}
	m.ProbeTokens = len(toks)
	loaded.Precision = m.Model.Precision
	want, err := m.Model.Logits(toks, nil)
	if err != nil {
		return err
	}
	got, err := loaded.Logits(toks, nil)
	if err != nil {
		return err
	}
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			return fmt.Errorf("logit %d of the probe is %g on the file read back, %g predicted", i, got[i], want[i])
		}
		if math.IsNaN(float64(want[i])) || math.IsInf(float64(want[i]), 0) {
			return fmt.Errorf("logit %d of the probe is %g", i, want[i])
		}
	}
	// Drift in plain float32, so that it measures the merge, not the rounding of the F16 KV cache.
	bz, err := bm.Model.WithTensors(nil)
	if err != nil {
		return err
	}
	mz, err := m.Model.Model.WithTensors(nil)
	if err != nil {
		return err
	}
	bz.Precision, mz.Precision = llama.Precision{}, llama.Precision{}
	adapted, err := bz.Logits(toks, a)
	if err != nil {
		return err
	}
	merged, err := mz.Logits(toks, nil)
	if err != nil {
		return err
	}
	for i := range merged {
		m.Drift = max(m.Drift, math.Abs(float64(merged[i])-float64(adapted[i])))
	}
	return nil
}
