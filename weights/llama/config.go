package llama

import (
	"errors"
	"fmt"
	"math"
	"slices"
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
	// ArchQwen3 is Qwen3 (dense): no projection biases, an RMSNorm over each query and key head before RoPE
	// (attn_q_norm, attn_k_norm), NEOX RoPE, and heads whose width (key_length) need not be Dim/Heads.
	ArchQwen3 = "qwen3"
	// ArchGemma3 is Gemma 3's text model: embeddings scaled by √Dim, query and key head norms, norms after
	// attention and after the feed-forward as well as before, a GELU-tanh gated feed-forward, NEOX RoPE,
	// sliding-window attention with its own RoPE base on five layers of every six, and a tied output.
	ArchGemma3 = "gemma3"
)

// Architectures returns the supported architecture names, sorted.
func Architectures() []string { return []string{ArchGemma3, ArchLlama, ArchQwen2, ArchQwen3} }

// Config is the shape of a llama-family decoder, in the terms of GGUF's <arch>.* metadata.
type Config struct {
	Arch    string // architecture: ArchLlama (also when empty), ArchQwen2, ArchQwen3 or ArchGemma3
	Vocab   int    // tokens in the vocabulary (rows of token_embd)
	Dim     int    // embedding width (<arch>.embedding_length)
	Hidden  int    // feed-forward width (<arch>.feed_forward_length)
	Layers  int    // transformer blocks (<arch>.block_count)
	Heads   int    // query heads (<arch>.attention.head_count)
	KVHeads int    // key/value heads (<arch>.attention.head_count_kv); Heads must be a multiple
	// KeyLength is the width of one query, key and value head (<arch>.attention.key_length, which must
	// equal value_length); 0 means Dim/Heads. Only qwen3 and gemma3 may set a width other than Dim/Heads.
	KeyLength     int
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

	// SlidingWindow (gemma3, <arch>.attention.sliding_window) limits the attention of the sliding-window
	// layers (see SlidingLayer): a query at position p sees the keys at positions p−SlidingWindow to p, as
	// Ollama's engine masks them. 0 means no limit.
	SlidingWindow int
	// RopeLocalBase (gemma3, <arch>.rope.local.freq_base) is the RoPE base of the sliding-window layers,
	// which are never scaled; RopeBase and RopeScale apply to the global layers. 0 means 10000.
	RopeLocalBase float32
	// FinalLogitSoftcap (gemma3, <arch>.final_logit_softcapping), when positive, maps every logit z to
	// c·tanh(z/c).
	FinalLogitSoftcap float32
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
func (c Config) ropeNeoX() bool { return c.Architecture() != ArchLlama }

// qkNorm reports whether each query and key head is RMS-normalized (attn_q_norm, attn_k_norm) before RoPE.
func (c Config) qkNorm() bool { a := c.Architecture(); return a == ArchQwen3 || a == ArchGemma3 }

// gemma reports whether the block is Gemma's: scaled embeddings, norms after attention and feed-forward,
// GELU-tanh gating, queries scaled before attention, sliding-window layers.
func (c Config) gemma() bool { return c.Architecture() == ArchGemma3 }

// ollamaEngine reports whether Ollama (v0.17.4) runs the architecture on its own Go engine rather than on
// llama.cpp; some constants are computed in float64 there and in float32 in llama.cpp.
func (c Config) ollamaEngine() bool { a := c.Architecture(); return a == ArchQwen3 || a == ArchGemma3 }

// gemmaGlobalEvery is Gemma 3's layer pattern as Ollama's engine applies it: layer l is global when
// (l+1) is a multiple of it, else it attends through the sliding window.
const gemmaGlobalEvery = 6

// SlidingLayer reports whether layer l attends through the sliding window with the local RoPE base (gemma3:
// every layer but each sixth, as Ollama's engine assigns its caches).
func (c Config) SlidingLayer(l int) bool { return c.gemma() && (l+1)%gemmaGlobalEvery != 0 }

// HeadDim is the width of one attention head: KeyLength, or Dim/Heads when that is 0.
func (c Config) HeadDim() int {
	if c.KeyLength > 0 {
		return c.KeyLength
	}
	if c.Heads <= 0 {
		return 0
	}
	return c.Dim / c.Heads
}

// QDim is the width of the queries and of the attention output, Heads·HeadDim (Dim unless KeyLength
// says otherwise).
func (c Config) QDim() int { return c.Heads * c.HeadDim() }

// attnScale is the factor of the attention scores, 1/√HeadDim, rounded as the runner of the architecture
// computes it (float32 in llama.cpp, float64 in Ollama's engine).
func (c Config) attnScale() float32 {
	hd := c.HeadDim()
	if c.ollamaEngine() {
		return float32(1 / math.Sqrt(float64(hd)))
	}
	return 1 / float32(math.Sqrt(float64(hd)))
}

// embedScale is gemma's factor on the token embeddings, √Dim as Ollama's engine rounds it; 1 elsewhere.
func (c Config) embedScale() float32 {
	if !c.gemma() {
		return 1
	}
	return float32(math.Sqrt(float64(c.Dim)))
}

// Validate reports the first inconsistency in c, or nil.
func (c Config) Validate() error {
	switch {
	case c.Arch != "" && !slices.Contains(Architectures(), c.Arch):
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
	case c.KeyLength < 0:
		return fmt.Errorf("llama: key length %d must not be negative", c.KeyLength)
	case c.KeyLength > 0 && c.KeyLength != c.Dim/c.Heads && !c.qkNorm():
		return fmt.Errorf("llama: key length %d differs from dim/heads %d, which only qwen3 and gemma3 allow", c.KeyLength, c.Dim/c.Heads)
	case c.KeyLength == 0 && c.Dim%c.Heads != 0:
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
	case c.SlidingWindow < 0:
		return fmt.Errorf("llama: sliding window %d must not be negative", c.SlidingWindow)
	case !(c.RopeLocalBase >= 0) || math.IsInf(float64(c.RopeLocalBase), 1):
		return fmt.Errorf("llama: local rope base %v must be non-negative and finite", c.RopeLocalBase)
	case !(c.FinalLogitSoftcap >= 0) || math.IsInf(float64(c.FinalLogitSoftcap), 1):
		return fmt.Errorf("llama: final logit softcap %v must be non-negative and finite", c.FinalLogitSoftcap)
	case !c.gemma() && (c.SlidingWindow != 0 || c.RopeLocalBase != 0 || c.FinalLogitSoftcap != 0):
		return fmt.Errorf("llama: sliding window, local rope base and logit softcap are gemma3's, not %s's", c.Architecture())
	}
	return nil
}
