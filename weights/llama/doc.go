// Package llama is a llama-family decoder in Go: forward pass, backward pass, LoRA adapters and incremental
// generation, in float32, with numerics that follow llama.cpp as Ollama runs it for general.architecture =
// llama and qwen2.
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
// and rotates pairs (i, i+head_dim/2), llama.cpp's NEOX mode. Tensors carry their GGUF names and ggml shapes, and are stored row-major
// [n_out][n_in] like GGUF data, so weights copy straight in and out.
//
// Inference can reproduce the runner's arithmetic bit for bit (Precision, Runner): its F16 KV cache, its
// quantized matrix products (SetQuantized keeps a matrix's GGUF blocks) and the sums and exponentials of
// ggml's portable CPU code. The parity tests check greedy continuations and final hidden states against
// Ollama v0.6.5 on F32, F16 and Q4_0 to Q6_K bases.
//
// Each layer's forward sits next to its backward (layers.go); every backward is checked against finite
// differences of an independent float64 implementation. Matrix products live in matmul.go.
package llama
