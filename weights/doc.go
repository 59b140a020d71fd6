// Package weights is the slow channel's file layer: it loads a llama-family model and its tokenizer from a GGUF
// file, saves models the project builds, and exports and imports LoRA adapters in the GGUF adapter layout that
// Ollama's llama.cpp runner applies. Merge folds an adapter into the base's tensors and writes a whole model
// (each adapted tensor re-encoded in its own type by ports of ggml's reference quantizers, everything else
// copied byte for byte), for runtimes that do not apply adapters; the file is read back and checked first.
//
// The math lives in the sub-packages: weights/gguf (the file format), weights/tokenizer (byte-level BPE),
// weights/llama (forward, backward, LoRA, generation) and weights/train (AdamW, schedules, checkpoints).
package weights
