// Package llama is a llama-family decoder in Go: forward pass, backward pass, LoRA adapters and incremental
// generation, in float32, with numerics that follow ggml as Ollama runs it for general.architecture =
// llama, qwen2 (on its llama.cpp runner), qwen3 and gemma3 (on its own engine).
//
// The network (llama.cpp's build_llama) is, for tokens x:
//
//	h = token_embd[x]
//	for each block:
//	    n = rms_norm(h)·attn_norm
//	    h = h + attn_output(attention(rope(attn_q(n)), rope(attn_k(n)), attn_v(n)))
//	    n = rms_norm(h)·ffn_norm
//	    h = h + ffn_down(silu(ffn_gate(n)) ⊙ ffn_up(n))
//	logits = output(rms_norm(h)·output_norm)        (output is token_embd when tied)
//
// with rms_norm(x) = x/sqrt(mean(x²)+eps), RoPE in llama.cpp's NORMAL mode (adjacent pairs rotated by
// pos·base^(−2i/head_dim)), causal grouped-query attention scaled by 1/sqrt(head_dim), and an adapted matrix
// computing W·x + scale·B(A·x). Llama 3.1/3.2 divide each pair's frequency by a factor from rope_freqs.weight
// (and older long-context models scale all angles linearly); qwen2 adds biases to attn_q, attn_k and attn_v
// and rotates pairs (i, i+head_dim/2), llama.cpp's NEOX mode. Tensors carry their GGUF names and ggml
// shapes, and are stored row-major [n_out][n_in] like GGUF data, so weights copy straight in and out.
//
// qwen3 has no biases, NEOX RoPE, heads of attention.key_length values (not necessarily dim/heads) and
// an RMSNorm over each query and key head before RoPE (attn_q_norm, attn_k_norm). gemma3's text model
// (Ollama's model/models/gemma3) adds to those head norms: embeddings times √dim; norms after attention
// and after the feed-forward (post_attention_norm, post_ffw_norm); GELU-tanh instead of SiLU; queries
// scaled by 1/√head_dim before attention; layers that attend through a sliding window with their own RoPE
// base (all but every sixth layer, as Ollama's engine assigns its caches); and, if set, a final logit
// softcap c·tanh(z/c). Gemma's GGUF norm weights already include the +1 of its checkpoints (the
// converters add it), so every norm here multiplies by the stored weight.
//
// Inference can reproduce the runner's arithmetic bit for bit (Precision, Runner, RunnerFlash): its F16
// KV cache, its quantized matrix products (SetQuantized keeps a matrix's GGUF blocks), the sums and
// exponentials of ggml's portable CPU code and, for Ollama v0.17.4, ggml's CPU flash attention. The parity
// tests check greedy continuations and final hidden states against Ollama v0.6.5 and v0.17.4 on F32, F16
// and quantized bases.
//
// Each layer's forward sits next to its backward (layers.go); every backward is checked against finite
// differences of an independent float64 implementation. Matrix products live in matmul.go.
package llama
