package llama

import (
	"errors"
	"fmt"
)

// Config is the shape of a llama-family decoder, in the terms of GGUF's llama.* metadata.
type Config struct {
	Vocab         int     // tokens in the vocabulary (rows of token_embd)
	Dim           int     // embedding width (llama.embedding_length)
	Hidden        int     // feed-forward width (llama.feed_forward_length)
	Layers        int     // transformer blocks (llama.block_count)
	Heads         int     // query heads (llama.attention.head_count)
	KVHeads       int     // key/value heads (llama.attention.head_count_kv); Heads must be a multiple
	ContextLength int     // longest sequence the model accepts (llama.context_length)
	RopeBase      float32 // RoPE frequency base (llama.rope.freq_base), 10000 in llama 1/2
	NormEps       float32 // RMSNorm epsilon (llama.attention.layer_norm_rms_epsilon)
	TiedOutput    bool    // the output projection is token_embd (the GGUF has no output.weight)
}

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
	case !(c.RopeBase > 0):
		return fmt.Errorf("llama: rope base %v must be positive", c.RopeBase)
	case !(c.NormEps >= 0):
		return errors.New("llama: norm epsilon must be non-negative")
	}
	return nil
}
