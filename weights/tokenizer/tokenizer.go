package tokenizer

// Tokenizer is a GGUF model's tokenizer as the engine uses it: text to token ids and back, exactly as
// Ollama's runner does, plus what generation, training and saving need to know about its tokens.
// *BPE (tokenizer.ggml.model "gpt2") and *SPM ("llama", SentencePiece) implement it; implementations are
// immutable and safe for concurrent use.
type Tokenizer interface {
	// Encode returns the token ids of text as llama_tokenize(parse_special=true) does: special tokens
	// written in the text become their ids. With addSpecial, the BOS (and EOS) tokens are added as the
	// vocabulary asks (AddBOS).
	Encode(text string, addSpecial bool) []int32
	// Decode returns the text of ids as Ollama's runner renders them, each token's Piece concatenated.
	Decode(ids []int32) string
	// Size is the number of tokens in the vocabulary.
	Size() int
	// BOS and EOS are the beginning- and end-of-sequence token ids.
	BOS() int32
	EOS() int32
	// AddBOS reports whether Encode with addSpecial prepends BOS.
	AddBOS() bool
	// Token returns the vocabulary text of id as stored in tokenizer.ggml.tokens, or "" out of range.
	Token(id int32) string
	// Piece returns the bytes id stands for (llama.cpp's token_to_piece with special=true): special
	// tokens as their text; a byte token of an SPM vocabulary as its byte. "" out of range.
	Piece(id int32) string
	// IsSpecial reports whether id is a control, user-defined or unknown token, the tokens Encode
	// recognizes by their text.
	IsSpecial(id int32) bool
	// Metadata returns the tokenizer as GGUF metadata (tokenizer.ggml.*), in a fixed order, for saving.
	Metadata() []KV
}

var _ Tokenizer = (*BPE)(nil)
