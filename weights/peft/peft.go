package peft

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/fastslow/fastslow/internal/atomicfile"
	"github.com/fastslow/fastslow/weights/llama"
)

// File names of a PEFT adapter directory, as save_pretrained writes them.
const (
	ConfigFile  = "adapter_config.json"
	WeightsFile = "adapter_model.safetensors"
)

// ErrMismatch is returned (wrapped) when an adapter does not fit the base model it is imported onto, or its
// config does not describe its tensors.
var ErrMismatch = errors.New("adapter does not fit")

// Load reads the PEFT LoRA adapter in dir (adapter_config.json and adapter_model.safetensors) and converts it
// to the project's adapter for m; see FromTensors for the checks.
func Load(dir string, m *llama.Model) (*llama.Adapter, Config, error) {
	b, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		return nil, Config{}, fmt.Errorf("peft: %w", err)
	}
	cfg, err := ParseConfig(b)
	if err != nil {
		return nil, Config{}, fmt.Errorf("peft: %s: %w", dir, err)
	}
	data, err := os.ReadFile(filepath.Join(dir, WeightsFile))
	if errors.Is(err, os.ErrNotExist) {
		if _, binErr := os.Stat(filepath.Join(dir, "adapter_model.bin")); binErr == nil {
			return nil, cfg, fmt.Errorf("peft: %s has adapter_model.bin (a pickle), which is not read; save with safe_serialization=True", dir)
		}
	}
	if err != nil {
		return nil, cfg, fmt.Errorf("peft: %w", err)
	}
	tensors, _, err := ReadSafetensors(data)
	if err != nil {
		return nil, cfg, fmt.Errorf("peft: %s: %w", filepath.Join(dir, WeightsFile), err)
	}
	a, err := FromTensors(cfg, tensors, m)
	if err != nil {
		return nil, cfg, fmt.Errorf("peft: %s: %w", dir, err)
	}
	return a, cfg, nil
}

// tensorName parses a PEFT LoRA tensor name,
// base_model.model.model.layers.N.{self_attn|mlp}.MODULE.lora_{A|B}.weight.
func tensorName(name string) (layer int, module string, isA bool, ok bool) {
	rest, ok := strings.CutPrefix(name, "base_model.model.model.layers.")
	if !ok {
		return 0, "", false, false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 5 || parts[4] != "weight" || (parts[3] != "lora_A" && parts[3] != "lora_B") {
		return 0, "", false, false
	}
	l, err := strconv.Atoi(parts[0])
	if err != nil || l < 0 || strconv.Itoa(l) != parts[0] {
		return 0, "", false, false
	}
	if p, known := moduleParent[parts[2]]; !known || p != parts[1] {
		return 0, "", false, false
	}
	return l, parts[2], parts[3] == "lora_A", true
}

// peftTensor is the PEFT name of one adapter matrix.
func peftTensor(l int, module string, a bool) string {
	ab := "lora_B"
	if a {
		ab = "lora_A"
	}
	return "base_model.model." + moduleName(l, module) + "." + ab + ".weight"
}

// FromTensors converts PEFT LoRA tensors (names as in adapter_model.safetensors) described by cfg into the
// project's adapter for m. It checks that every tensor is the A or B of a projection of one of m's layers,
// that the tensors are exactly the ones cfg targets (modules and layers_to_transform), that every pair has
// cfg's rank and the shape of m's matrix, and converts:
//   - names: model.layers.N.self_attn.q_proj → blk.N.attn_q.weight, and so on (GGUFNames);
//   - layout: PEFT's lora_A [r, in] and lora_B [out, r] are, value for value, the GGUF lora_a (ne [in, r]) and
//     lora_b (ne [r, out]), so nothing is transposed;
//   - the llama q/k permutation: convert_hf_to_gguf reorders the rows of q_proj and k_proj of a llama model
//     (each head's two RoPE halves interleaved, for llama.cpp's RoPE), and convert_lora_to_gguf applies the
//     same reordering to the rows of lora_B; so is done here (qwen2 and the others are not permuted);
//   - the scale: the adapter's alpha is chosen so that alpha/r equals PEFT's lora_alpha/r, or lora_alpha/√r
//     with rsLoRA.
//
// Layers the adapter leaves out (layers_to_transform) get zero matrices, which change nothing.
func FromTensors(cfg Config, tensors map[string]Tensor, m *llama.Model) (*llama.Adapter, error) {
	if m == nil {
		return nil, errors.New("nil base model")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	base := m.Config
	type key struct {
		l int
		m string
	}
	present := map[key]bool{}
	modules := map[string]bool{}
	names := make([]string, 0, len(tensors))
	for name := range tensors {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		l, mod, isA, ok := tensorName(name)
		if !ok {
			return nil, fmt.Errorf("tensor %s is not the lora_A or lora_B weight of a decoder layer's projection (%s)", name, strings.Join(Modules, ", "))
		}
		if l >= base.Layers {
			return nil, fmt.Errorf("%w: tensor %s adapts layer %d, the base model has %d layers", ErrMismatch, name, l, base.Layers)
		}
		if !cfg.targets(mod, moduleName(l, mod), l) {
			return nil, fmt.Errorf("%w: config does not match tensors: %s adapts %s of layer %d, which %s excludes",
				ErrMismatch, name, mod, l, describeTargets(cfg))
		}
		if _, ok := tensors[peftTensor(l, mod, !isA)]; !ok {
			return nil, fmt.Errorf("%w: tensor %s has no partner %s", ErrMismatch, name, peftTensor(l, mod, !isA))
		}
		present[key{l, mod}] = true
		modules[mod] = true
	}
	if len(present) == 0 {
		return nil, errors.New("the adapter has no tensors")
	}
	// Every module the config names must be there: a config listing more than the file holds describes
	// another adapter.
	for _, mod := range cfg.TargetModules.List {
		if !modules[mod] {
			return nil, fmt.Errorf("%w: config does not match tensors: target module %s has no tensors", ErrMismatch, mod)
		}
	}
	for _, l := range cfg.LayersToTransform {
		if l >= base.Layers {
			return nil, fmt.Errorf("%w: layers_to_transform names layer %d, the base model has %d layers", ErrMismatch, l, base.Layers)
		}
	}
	targets := make([]string, 0, len(modules))
	for i, mod := range Modules {
		if modules[mod] {
			targets = append(targets, GGUFNames[i])
		}
	}
	alpha := float32(cfg.LoraAlpha) // llama.Adapter scales by alpha/r, as PEFT does without rsLoRA
	if cfg.UseRSLoRA {
		alpha = float32(cfg.Scale() * float64(cfg.R))
	}
	lc := llama.LoRAConfig{Rank: cfg.R, Alpha: alpha, Targets: targets}
	a, err := llama.NewAdapter(m, lc, 0)
	if err != nil {
		return nil, err
	}
	params := map[string]*llama.Param{}
	for _, p := range a.Params() {
		params[p.Name] = p
		clear(p.Data) // NewAdapter initializes A randomly; absent layers must stay zero
	}
	for i, mod := range Modules {
		if !modules[mod] {
			continue
		}
		for l := range base.Layers {
			if !present[key{l, mod}] {
				if cfg.targets(mod, moduleName(l, mod), l) {
					return nil, fmt.Errorf("%w: config does not match tensors: %s of layer %d is targeted but has no tensors", ErrMismatch, mod, l)
				}
				continue
			}
			g := fmt.Sprintf("blk.%d.%s.weight", l, GGUFNames[i])
			pa, pb := params[g+".lora_a"], params[g+".lora_b"]
			in, out := pa.Shape[0], pb.Shape[1]
			ta, tb := tensors[peftTensor(l, mod, true)], tensors[peftTensor(l, mod, false)]
			if err := checkPair(peftTensor(l, mod, true), ta.Shape, cfg.R, in, true, g); err != nil {
				return nil, err
			}
			if err := checkPair(peftTensor(l, mod, false), tb.Shape, cfg.R, out, false, g); err != nil {
				return nil, err
			}
			copy(pa.Data, ta.Data)
			copy(pb.Data, tb.Data)
			if heads := permuteHeads(base, mod); heads > 0 {
				copy(pb.Data, permuteRows(pb.Data, out, cfg.R, heads, false))
			}
		}
	}
	return a, nil
}

func describeTargets(c Config) string {
	s := "target_modules " + strconv.Quote(c.TargetModules.Pattern)
	if c.TargetModules.List != nil {
		s = "target_modules [" + strings.Join(c.TargetModules.List, " ") + "]"
	}
	if len(c.LayersToTransform) > 0 {
		s += fmt.Sprintf(" with layers_to_transform %v", []int(c.LayersToTransform))
	}
	return s
}

// checkPair checks a PEFT matrix's shape: lora_A [r, in], lora_B [out, r]; dim is in or out of base tensor g.
func checkPair(name string, shape []int, r, dim int, isA bool, g string) error {
	want := []int{dim, r}
	if isA {
		want = []int{r, dim}
	}
	if slices.Equal(shape, want) {
		return nil
	}
	if len(shape) == 2 && ((isA && shape[0] != r) || (!isA && shape[1] != r)) && (shape[0] == dim || shape[1] == dim) {
		return fmt.Errorf("%w: config does not match tensors: %s has shape %v, rank %d in the config (r) needs %v", ErrMismatch, name, shape, r, want)
	}
	return fmt.Errorf("%w: wrong shape: %s is %v, the base model's %s needs %v", ErrMismatch, name, shape, g, want)
}

// permuteHeads returns the head count by which convert_hf_to_gguf permutes the rows of module in a model of
// shape c (llama's q_proj: heads, k_proj: kv heads), or 0 when it does not.
func permuteHeads(c llama.Config, module string) int {
	if c.Architecture() != llama.ArchLlama {
		return 0
	}
	switch module {
	case "q_proj":
		return c.Heads
	case "k_proj":
		return c.KVHeads
	}
	return 0
}

// permuteRows reorders the rows of a rows×cols matrix as convert_hf_to_gguf's LlamaModel.permute does
// (inverse=false: Hugging Face order → GGUF order) or back (inverse=true): within each of heads blocks of
// rows, row j·(d/2)+i (the RoPE half j) moves to row 2i+j.
func permuteRows(x []float32, rows, cols, heads int, inverse bool) []float32 {
	out := make([]float32, len(x))
	d := rows / heads
	for h := range heads {
		for i := range d / 2 {
			for j := range 2 {
				hf, gg := h*d+j*(d/2)+i, h*d+2*i+j
				src, dst := hf, gg
				if inverse {
					src, dst = gg, hf
				}
				copy(out[dst*cols:(dst+1)*cols], x[src*cols:(src+1)*cols])
			}
		}
	}
	return out
}

// SaveOptions name what Save writes into adapter_config.json.
type SaveOptions struct {
	// BaseModel is written to base_model_name_or_path (the Hugging Face id of the base, if known).
	BaseModel string
	// Config, if set, is the config to write (its Extra keys are kept); R, LoraAlpha, UseRSLoRA and
	// TargetModules are always set from the adapter.
	Config *Config
}

// ToTensors converts the project's adapter for m into PEFT's tensors and config: the inverse of FromTensors.
// lora_alpha is written so that lora_alpha/r is the adapter's scale exactly (use_rslora false).
func ToTensors(a *llama.Adapter, m *llama.Model, opt SaveOptions) (Config, map[string]Tensor, error) {
	if a == nil || m == nil {
		return Config{}, nil, errors.New("nil adapter or model")
	}
	if a.Architecture() != m.Config.Architecture() {
		return Config{}, nil, fmt.Errorf("%w: adapter made for a %s model, base is %s", ErrMismatch, a.Architecture(), m.Config.Architecture())
	}
	cfg := Config{PeftType: "LORA", TaskType: "CAUSAL_LM", Bias: "none"}
	if opt.Config != nil {
		cfg = *opt.Config
	}
	if opt.BaseModel != "" {
		cfg.BaseModel = opt.BaseModel
	}
	r := a.Config.Rank
	cfg.R, cfg.UseRSLoRA = r, false
	cfg.LoraAlpha = float64(a.Scale()) * float64(r)
	if a.Config.Alpha != 0 && float32(float64(a.Config.Alpha)/float64(r)) == a.Scale() {
		cfg.LoraAlpha = float64(a.Config.Alpha) // exact: alpha/r comes back as the same float32 scale
	}
	cfg.TargetModules = TargetModules{}
	cfg.LayersToTransform = nil
	tensors := map[string]Tensor{}
	for _, p := range a.Params() {
		parts := strings.Split(p.Name, ".") // blk.N.kind.weight.lora_x
		if len(parts) != 5 || parts[0] != "blk" {
			return Config{}, nil, fmt.Errorf("adapter tensor %s is not a block projection's", p.Name)
		}
		l, err := strconv.Atoi(parts[1])
		if err != nil {
			return Config{}, nil, fmt.Errorf("adapter tensor %s: %w", p.Name, err)
		}
		i := slices.Index(GGUFNames, parts[2])
		if i < 0 {
			return Config{}, nil, fmt.Errorf("adapter tensor %s: unknown projection %s", p.Name, parts[2])
		}
		mod := Modules[i]
		if !slices.Contains(cfg.TargetModules.List, mod) {
			cfg.TargetModules.List = append(cfg.TargetModules.List, mod)
		}
		data := append([]float32(nil), p.Data...)
		isA := parts[4] == "lora_a"
		shape := []int{r, p.Shape[0]} // lora_a: ne [in, r] → [r, in]
		if !isA {
			shape = []int{p.Shape[1], r} // lora_b: ne [r, out] → [out, r]
			if heads := permuteHeads(m.Config, mod); heads > 0 {
				data = permuteRows(data, shape[0], r, heads, true)
			}
		}
		tensors[peftTensor(l, mod, isA)] = Tensor{DType: "F32", Shape: shape, Data: data}
	}
	slices.SortFunc(cfg.TargetModules.List, func(x, y string) int {
		return slices.Index(Modules, x) - slices.Index(Modules, y)
	})
	if err := cfg.Validate(); err != nil {
		return Config{}, nil, err
	}
	return cfg, tensors, nil
}

// Save writes a, an adapter of m, as a PEFT LoRA directory (adapter_config.json and
// adapter_model.safetensors in F32) that PEFT's PeftModel.from_pretrained loads onto the Hugging Face form of
// m. Each file is replaced atomically.
func Save(dir string, a *llama.Adapter, m *llama.Model, opt SaveOptions) error {
	cfg, tensors, err := ToTensors(a, m, opt)
	if err != nil {
		return fmt.Errorf("peft: save %s: %w", dir, err)
	}
	data, err := WriteSafetensors(tensors, map[string]string{"format": "pt"})
	if err != nil {
		return fmt.Errorf("peft: save %s: %w", dir, err)
	}
	js, err := cfg.MarshalJSON()
	if err != nil {
		return fmt.Errorf("peft: save %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("peft: save: %w", err)
	}
	for name, b := range map[string][]byte{WeightsFile: data, ConfigFile: append(js, '\n')} {
		path := filepath.Join(dir, name)
		if err := atomicfile.WriteFile(path, 0o644, func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
			return fmt.Errorf("peft: save %s: %w", path, err)
		}
	}
	return nil
}
