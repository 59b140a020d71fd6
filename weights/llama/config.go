package llama

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Architectures this package runs, by their GGUF general.architecture names. They share one network and
// differ where llama.cpp's graphs for them differ.
const (
	// ArchLlama is llama 1/2/3 and their relatives (SmolLM, TinyLlama, ...): RoPE rotates adjacent pairs
	// (llama.cpp's NORMAL mode), no projection biases.
	ArchLlama = "llama"
	// ArchQwen2 is Qwen2 and Qwen2.5: biases on the query, key and value projections, and RoPE rotating
	// the two halves of each head (llama.cpp's NEOX mode).
	ArchQwen2 = "qwen2"
)

// Architectures returns the supported architecture names, sorted.
func Architectures() []string { return []string{ArchLlama, ArchQwen2} }

// Config is the shape of a llama-family decoder, in the terms of GGUF's <arch>.* metadata.
type Config struct {
	Arch          string  // architecture: ArchLlama (also when empty) or ArchQwen2
	Vocab         int     // tokens in the vocabulary (rows of token_embd)
	Dim           int     // embedding width (<arch>.embedding_length)
	Hidden        int     // feed-forward width (<arch>.feed_forward_length)
	Layers        int     // transformer blocks (<arch>.block_count)
	Heads         int     // query heads (<arch>.attention.head_count)
	KVHeads       int     // key/value heads (<arch>.attention.head_count_kv); Heads must be a multiple
	ContextLength int     // longest sequence the model accepts (<arch>.context_length)
	RopeBase      float32 // RoPE frequency base (<arch>.rope.freq_base), 10000 in llama 1/2
	// RopeScale is linear RoPE scaling (<arch>.rope.scaling.factor with scaling type "linear"): every angle
	// is multiplied by 1/RopeScale. 0 and 1 mean no scaling.
	RopeScale float32
	// RopeFreqFactors gives the model a rope_freqs.weight tensor of HeadDim/2 factors that divide the
	// frequency of each rotated pair: llama 3.1 and 3.2's frequency scaling, precomputed by the converters.
	// The factors are constants, not trained.
	RopeFreqFactors bool
	NormEps         float32 // RMSNorm epsilon (<arch>.attention.layer_norm_rms_epsilon)
	TiedOutput      bool    // the output projection is token_embd (the GGUF has no output.weight)
}

// Architecture returns the architecture name, ArchLlama when Arch is empty.
func (c Config) Architecture() string {
	if c.Arch == "" {
		return ArchLlama
	}
	return c.Arch
}

// qkvBias reports whether the query, key and value projections carry biases.
func (c Config) qkvBias() bool { return c.Architecture() == ArchQwen2 }

// ropeNeoX reports whether RoPE rotates pairs (i, i+HeadDim/2) instead of (2i, 2i+1).
func (c Config) ropeNeoX() bool { return c.Architecture() == ArchQwen2 }

// HeadDim is the width of one attention head, Dim/Heads.
func (c Config) HeadDim() int {
	if c.Heads <= 0 {
		return 0
	}
	return c.Dim / c.Heads
}

// Validate reports the first inconsistency in c, or nil.
func (c Config) Validate() error {
	switch {
	case c.Arch != "" && c.Arch != ArchLlama && c.Arch != ArchQwen2:
		return fmt.Errorf("llama: architecture %q is not supported (supported: %s)", c.Arch, strings.Join(Architectures(), ", "))
	case c.Vocab <= 0:
		return fmt.Errorf("llama: vocab %d must be positive", c.Vocab)
	case c.Dim <= 0:
		return fmt.Errorf("llama: dim %d must be positive", c.Dim)
	case c.Hidden <= 0:
		return fmt.Errorf("llama: hidden %d must be positive", c.Hidden)
	case c.Layers <= 0:
		return fmt.Errorf("llama: layers %d must be positive", c.Layers)
	case c.Heads <= 0 || c.KVHeads <= 0:
		return fmt.Errorf("llama: heads %d and kv heads %d must be positive", c.Heads, c.KVHeads)
	case c.Heads%c.KVHeads != 0:
		return fmt.Errorf("llama: heads %d not a multiple of kv heads %d", c.Heads, c.KVHeads)
	case c.Dim%c.Heads != 0:
		return fmt.Errorf("llama: dim %d not a multiple of heads %d", c.Dim, c.Heads)
	case c.HeadDim()%2 != 0:
		return fmt.Errorf("llama: head dim %d must be even for RoPE", c.HeadDim())
	case c.ContextLength <= 0:
		return fmt.Errorf("llama: context length %d must be positive", c.ContextLength)
	case !(c.RopeBase > 0) || math.IsInf(float64(c.RopeBase), 1):
		return fmt.Errorf("llama: rope base %v must be positive and finite", c.RopeBase)
	case !(c.RopeScale >= 0) || math.IsInf(float64(c.RopeScale), 1):
		return fmt.Errorf("llama: rope scale %v must be non-negative and finite", c.RopeScale)
	case !(c.NormEps >= 0):
		return errors.New("llama: norm epsilon must be non-negative")
	}
	return nil
}
