package weights

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
)

// SaveAdapter writes a as a GGUF LoRA adapter that Ollama's llama.cpp runner applies to the base model:
// general.type=adapter, adapter.type=lora, adapter.lora.alpha as FLOAT32, general.architecture the base
// model's (a.Architecture(); llama.cpp refuses an adapter of another architecture) and tensors
// "<base>.lora_a" (ne [n_in, r]) and "<base>.lora_b" (ne [r, n_out]). The file is replaced atomically.
func SaveAdapter(path string, a *llama.Adapter, name string) error {
	if a == nil {
		return errors.New("save adapter: nil adapter")
	}
	if name == "" {
		name = "fastslow-adapter"
	}
	w := gguf.NewWriter()
	kvs := []gguf.KV{
		{Key: "general.architecture", Value: a.Architecture()},
		{Key: "general.type", Value: "adapter"},
		{Key: "general.name", Value: name},
		{Key: "adapter.type", Value: "lora"},
		// llama.cpp reads alpha and scales by alpha/rank, so the stored alpha must reproduce our Scale exactly.
		{Key: "adapter.lora.alpha", Value: a.Scale() * float32(a.Config.Rank)},
	}
	for _, kv := range kvs {
		if err := w.Set(kv.Key, kv.Value); err != nil {
			return fmt.Errorf("save adapter %s: %w", path, err)
		}
	}
	for _, p := range a.Params() {
		if err := w.AddTensor(p.Name, gguf.TypeF32, toShape(p.Shape), p.Data); err != nil {
			return fmt.Errorf("save adapter %s: %w", path, err)
		}
	}
	if err := w.WriteFile(path); err != nil {
		return fmt.Errorf("save adapter %s: %w", path, err)
	}
	return nil
}

// LoadAdapter reads a GGUF LoRA adapter and checks that it fits m: same architecture, every tensor named after
// one of m's projection matrices, A and B shapes matching that matrix and one rank throughout.
func LoadAdapter(path string, m *llama.Model) (*llama.Adapter, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load adapter: %w", err)
	}
	defer f.Close()
	a, err := adapterFromFile(f, m)
	if err != nil {
		return nil, fmt.Errorf("load adapter %s: %w", path, err)
	}
	return a, nil
}

func adapterFromFile(f *gguf.File, m *llama.Model) (*llama.Adapter, error) {
	if typ, err := f.Meta.String("general.type"); err != nil || typ != "adapter" {
		return nil, fmt.Errorf("general.type is not \"adapter\" (%v)", describe(typ, err))
	}
	if typ, err := f.Meta.String("adapter.type"); err != nil || typ != "lora" {
		return nil, fmt.Errorf("adapter.type is not \"lora\" (%v)", describe(typ, err))
	}
	arch, err := f.Meta.String("general.architecture")
	if err != nil {
		return nil, err
	}
	if arch != m.Config.Architecture() {
		return nil, fmt.Errorf("adapter is for architecture %q, the base model is %q", arch, m.Config.Architecture())
	}
	alpha, err := f.Meta.Float32("adapter.lora.alpha")
	if err != nil && !errors.Is(err, gguf.ErrKeyNotFound) {
		return nil, err
	}
	// Collect the targeted kinds and the rank from the tensor table before touching data.
	kinds := map[string]bool{}
	rank := 0
	for _, t := range f.Tensors {
		base, ok := strings.CutSuffix(t.Name, ".lora_a")
		if !ok {
			if base, ok = strings.CutSuffix(t.Name, ".lora_b"); !ok {
				return nil, fmt.Errorf("tensor %q is not a LoRA tensor", t.Name)
			}
		}
		p, ok := m.Tensor(base)
		if !ok || len(p.Shape) != 2 {
			return nil, fmt.Errorf("tensor %q adapts %q, which the base model does not have", t.Name, base)
		}
		if len(t.Shape) != 2 {
			return nil, fmt.Errorf("tensor %q has %d dimensions, want 2", t.Name, len(t.Shape))
		}
		r := int(t.Shape[1]) // lora_a: [n_in, r]
		if strings.HasSuffix(t.Name, ".lora_b") {
			r = int(t.Shape[0]) // lora_b: [r, n_out]
		}
		if rank == 0 {
			rank = r
		} else if r != rank {
			return nil, fmt.Errorf("tensor %q has rank %d, others %d", t.Name, r, rank)
		}
		parts := strings.Split(base, ".") // blk.N.kind.weight
		if len(parts) != 4 || parts[0] != "blk" {
			return nil, fmt.Errorf("tensor %q: only block projections can be adapted", t.Name)
		}
		kinds[parts[2]] = true
	}
	if rank == 0 {
		return nil, errors.New("adapter has no tensors")
	}
	targets := make([]string, 0, len(kinds))
	for k := range kinds {
		targets = append(targets, k)
	}
	sort.Strings(targets)
	cfg := llama.LoRAConfig{Rank: rank, Alpha: alpha, Targets: targets}
	a, err := llama.NewAdapter(m, cfg, 0)
	if err != nil {
		return nil, err
	}
	for _, p := range a.Params() {
		info, ok := f.Tensor(p.Name)
		if !ok {
			return nil, fmt.Errorf("missing tensor %q (every block of a targeted kind needs A and B)", p.Name)
		}
		if err := checkShape(p.Name, info.Shape, p.Shape); err != nil {
			return nil, err
		}
		data, err := f.Float32s(p.Name)
		if err != nil {
			return nil, err
		}
		copy(p.Data, data)
	}
	if len(a.Params()) != len(f.Tensors) {
		return nil, fmt.Errorf("adapter has %d tensors, %d expected for targets %v", len(f.Tensors), len(a.Params()), targets)
	}
	return a, nil
}

func describe(v string, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%q", v)
}
