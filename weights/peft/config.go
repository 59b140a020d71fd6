package peft

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
)

// Modules are the PEFT module names of a llama-family block's projections, in the order of their GGUF names
// (GGUFNames).
var Modules = []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}

// GGUFNames are the GGUF tensor kinds of Modules, position for position.
var GGUFNames = []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}

// moduleParent is the sub-module of a decoder layer that holds each projection in transformers' models.
var moduleParent = map[string]string{
	"q_proj": "self_attn", "k_proj": "self_attn", "v_proj": "self_attn", "o_proj": "self_attn",
	"gate_proj": "mlp", "up_proj": "mlp", "down_proj": "mlp",
}

// Config is the part of PEFT's adapter_config.json (a serialized LoraConfig) that decides what an adapter
// computes. Fields PEFT writes that do not change the forward pass (lora_dropout, init_lora_weights, revision,
// ...) are kept in Extra so a written config carries them on.
type Config struct {
	PeftType string `json:"peft_type"`
	TaskType string `json:"task_type,omitempty"`
	// BaseModel is base_model_name_or_path: the Hugging Face id or path of the base model.
	BaseModel string `json:"base_model_name_or_path"`
	R         int    `json:"r"`
	// LoraAlpha scales the update by LoraAlpha/R, or LoraAlpha/√R when UseRSLoRA is set.
	LoraAlpha   float64 `json:"lora_alpha"`
	LoraDropout float64 `json:"lora_dropout"`
	UseRSLoRA   bool    `json:"use_rslora"`
	// TargetModules is a list of module names or, as PEFT also allows, one regular expression that must match a
	// module's full name (or "all-linear").
	TargetModules TargetModules `json:"target_modules"`
	// LayersToTransform, when not empty, restricts the adapter to these decoder layers.
	LayersToTransform Layers `json:"layers_to_transform"`
	Bias              string `json:"bias"`

	// Settings that change the forward pass in ways the project's adapter cannot express; Validate refuses
	// them when set.
	FanInFanOut   bool               `json:"fan_in_fan_out"`
	UseDoRA       bool               `json:"use_dora"`
	ModulesToSave []string           `json:"modules_to_save"`
	RankPattern   map[string]int     `json:"rank_pattern"`
	AlphaPattern  map[string]float64 `json:"alpha_pattern"`

	// Extra holds every other key of the file, unchanged.
	Extra map[string]json.RawMessage `json:"-"`
}

// TargetModules is PEFT's target_modules: a list of names, or one pattern (List is then nil).
type TargetModules struct {
	List    []string
	Pattern string
}

// UnmarshalJSON accepts a list of strings or a single string.
func (t *TargetModules) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*t = TargetModules{}
		return nil
	}
	if err := json.Unmarshal(b, &t.List); err == nil {
		return nil
	}
	t.List = nil
	if err := json.Unmarshal(b, &t.Pattern); err != nil {
		return errors.New("target_modules must be a list of module names or a string")
	}
	return nil
}

// MarshalJSON writes the list, or the pattern when there is no list.
func (t TargetModules) MarshalJSON() ([]byte, error) {
	if t.List == nil && t.Pattern != "" {
		return json.Marshal(t.Pattern)
	}
	return json.Marshal(t.List)
}

// Layers is PEFT's layers_to_transform: null, one layer index or a list.
type Layers []int

// UnmarshalJSON accepts null, an integer or a list of integers.
func (l *Layers) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*l = nil
		return nil
	}
	var one int
	if err := json.Unmarshal(b, &one); err == nil {
		*l = Layers{one}
		return nil
	}
	var list []int
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New("layers_to_transform must be null, a layer index or a list of them")
	}
	*l = list
	return nil
}

// knownKeys are the JSON keys Config decodes into fields.
var knownKeys = []string{"peft_type", "task_type", "base_model_name_or_path", "r", "lora_alpha", "lora_dropout",
	"use_rslora", "target_modules", "layers_to_transform", "bias", "fan_in_fan_out", "use_dora",
	"modules_to_save", "rank_pattern", "alpha_pattern"}

// ParseConfig decodes adapter_config.json and validates it (see Config.Validate).
func ParseConfig(b []byte) (Config, error) {
	type plain Config
	var c plain
	if err := json.Unmarshal(b, &c); err != nil {
		return Config{}, fmt.Errorf("adapter_config.json: %w", err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return Config{}, fmt.Errorf("adapter_config.json: %w", err)
	}
	for _, k := range knownKeys {
		delete(all, k)
	}
	cfg := Config(c)
	if len(all) > 0 {
		cfg.Extra = all
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("adapter_config.json: %w", err)
	}
	return cfg, nil
}

// MarshalJSON writes the fields and Extra as one object with sorted keys, as PEFT's save_pretrained does.
func (c Config) MarshalJSON() ([]byte, error) {
	type plain Config
	b, err := json.Marshal(plain(c))
	if err != nil {
		return nil, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, err
	}
	for k, v := range c.Extra {
		if _, ok := all[k]; !ok {
			all[k] = v
		}
	}
	return json.MarshalIndent(all, "", "  ")
}

// Validate reports the first setting the project's adapter cannot reproduce, or nil.
func (c Config) Validate() error {
	switch {
	case c.PeftType != "LORA":
		return fmt.Errorf("peft_type %q: only LORA adapters can be imported", c.PeftType)
	case c.TaskType != "" && c.TaskType != "CAUSAL_LM":
		return fmt.Errorf("task_type %q: only CAUSAL_LM adapters apply to a decoder", c.TaskType)
	case c.R <= 0:
		return fmt.Errorf("r %d must be positive", c.R)
	case !(c.LoraAlpha > 0) || math.IsInf(c.LoraAlpha, 1):
		return fmt.Errorf("lora_alpha %v must be positive and finite", c.LoraAlpha)
	case c.UseDoRA:
		return errors.New("use_dora: DoRA adapters rescale the weight's columns, which a GGUF LoRA cannot express")
	case c.FanInFanOut:
		return errors.New("fan_in_fan_out: transposed (Conv1D) weights are GPT-2's, not a llama-family model's")
	case c.Bias != "" && c.Bias != "none":
		return fmt.Errorf("bias %q: trained biases cannot be carried by a GGUF LoRA (only \"none\")", c.Bias)
	case len(c.ModulesToSave) > 0:
		return fmt.Errorf("modules_to_save %v: fully trained modules are not a LoRA; merge them into the base instead", c.ModulesToSave)
	case len(c.RankPattern) > 0 || len(c.AlphaPattern) > 0:
		return errors.New("rank_pattern/alpha_pattern: per-module ranks or alphas are not supported (one rank and alpha throughout)")
	case c.TargetModules.List == nil && c.TargetModules.Pattern == "":
		return errors.New("target_modules is empty")
	}
	for _, m := range c.TargetModules.List {
		if !slices.Contains(Modules, m) {
			return fmt.Errorf("unknown target module %q (importable: %s)", m, strings.Join(Modules, ", "))
		}
	}
	if p := c.TargetModules.Pattern; p != "" && p != "all-linear" {
		if _, err := regexp.Compile(`^(?:` + p + `)$`); err != nil {
			return fmt.Errorf("target_modules pattern %q: %w", p, err)
		}
	}
	for _, l := range c.LayersToTransform {
		if l < 0 {
			return fmt.Errorf("layers_to_transform has a negative layer %d", l)
		}
	}
	return nil
}

// Scale is the factor PEFT applies to B·A·x: LoraAlpha/R, or LoraAlpha/√R with rsLoRA.
func (c Config) Scale() float64 {
	if c.UseRSLoRA {
		return c.LoraAlpha / math.Sqrt(float64(c.R))
	}
	return c.LoraAlpha / float64(c.R)
}

// targets reports whether the config adapts module (a Modules entry) of layer l, whose full name in the
// model is name (model.layers.N.self_attn.q_proj).
func (c Config) targets(module, name string, l int) bool {
	if len(c.LayersToTransform) > 0 && !slices.Contains(c.LayersToTransform, l) {
		return false
	}
	switch p := c.TargetModules.Pattern; {
	case c.TargetModules.List != nil:
		return slices.Contains(c.TargetModules.List, module)
	case p == "all-linear":
		return true
	default:
		return regexp.MustCompile(`^(?:` + p + `)$`).MatchString(name)
	}
}

// moduleName is a projection's full name in transformers' llama-family models.
func moduleName(l int, module string) string {
	return fmt.Sprintf("model.layers.%d.%s.%s", l, moduleParent[module], module)
}
