// Package parity holds the tests that hold our engine to its oracle: Ollama's llama.cpp runner, serving the same
// GGUF files. Greedy continuations, token counts and LoRA adapters must agree exactly on F32 models, and on a
// Q8_0 base quantized by Ollama itself. The package has no code of its own.
package parity
