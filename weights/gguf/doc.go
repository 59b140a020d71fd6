// Package gguf reads and writes GGUF files, the model format of ggml,
// llama.cpp and Ollama.
//
// A GGUF file is a header of typed key-value metadata, a table of tensor
// descriptions, and an aligned data section holding the tensors. [Open] and
// [Read] parse and validate the header of a file that may be untrusted and
// give access to tensor data through [File.Raw] and [File.Float32s]; the
// latter converts F16, BF16 and the quantized block formats to float32 exactly
// like ggml's dequantize_row_* functions. [Writer] builds a GGUF version 3
// file, converting float32 data to F16, BF16 and several quantized formats
// bit-identically to ggml's reference quantizers.
//
// Shapes follow ggml's convention: Shape[0] is the number of elements in a
// row (ne[0], the fastest-varying dimension).
package gguf
