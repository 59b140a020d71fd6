// Package parity holds the tests that hold our engine to its oracle: Ollama serving the same GGUF files, on
// its llama.cpp runner (llama, qwen2) and, from v0.17.4, on its own engine (qwen3, gemma3). Greedy
// continuations, token counts, final hidden states and LoRA adapters must agree exactly on F32 and F16
// models, and on bases quantized by Ollama itself, computing as the server does (llama.Runner on v0.6.5,
// llama.RunnerFlash on v0.17.4). The package has no code of its own.
package parity
