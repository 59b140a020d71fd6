// Package weights is the slow channel's file layer: it loads a llama-family model and its tokenizer from a GGUF
// file, saves models the project builds, and exports and imports LoRA adapters in the GGUF adapter layout that
// Ollama's llama.cpp runner applies.
//
// The math lives in the sub-packages: weights/gguf (the file format), weights/tokenizer (byte-level BPE),
// weights/llama (forward, backward, LoRA, generation) and weights/train (AdamW, schedules, checkpoints).
package weights
