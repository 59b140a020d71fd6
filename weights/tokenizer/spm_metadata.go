package tokenizer

import (
	"fmt"

	"slices"
)

// GGUF metadata keys a SentencePiece tokenizer adds to the BPE ones.
const (
	KeyScores         = "tokenizer.ggml.scores"
	KeyUNK            = "tokenizer.ggml.unknown_token_id"
	KeyAddSpacePrefix = "tokenizer.ggml.add_space_prefix"
	KeyEOT            = "tokenizer.ggml.eot_token_id"
)

// Metadata returns the tokenizer as GGUF metadata, in a fixed order. Every
// flag is written so llama.cpp and Ollama do not fall back to defaults, and
// so is the end-of-turn token (such as gemma's <end_of_turn>) when the
// vocabulary has one: llama.cpp would find it by its text, but Ollama's gemma3
// engine takes it from tokenizer.ggml.eot_token_id, or else assumes id 106.
func (t *SPM) Metadata() []KV {
	scores := t.scores
	if scores == nil {
		scores = make([]float32, len(t.tokens))
	}
	md := []KV{
		{KeyModel, "llama"},
		{KeyPre, "default"},
		{KeyTokens, slices.Clone(t.tokens)},
		{KeyScores, slices.Clone(scores)},
		{KeyTokenType, t.typesOrNormal()},
		{KeyBOS, uint32(t.bos)},
		{KeyEOS, uint32(t.eos)},
		{KeyUNK, uint32(t.unk)},
		{KeyAddBOS, t.addBOS},
		{KeyAddEOS, t.addEOS},
		{KeyAddSpacePrefix, t.addSpacePrefix},
	}
	for _, text := range roleTexts["eot"] {
		if id, ok := t.textToID[text]; ok {
			md = append(md, KV{KeyEOT, uint32(id)})
			break
		}
	}
	return md
}

// Load builds the tokenizer a GGUF file's metadata describes, read through
// get (which reports whether a key exists): a *BPE for tokenizer.ggml.model
// "gpt2" (see FromMetadata), a *SPM for "llama". Any other model is refused
// with an error naming the supported ones.
func Load(get func(key string) (any, bool)) (Tokenizer, error) {
	model, err := getString(get, KeyModel)
	if err != nil {
		return nil, err
	}
	switch model {
	case "gpt2":
		return FromMetadata(get)
	case "llama":
		return SPMFromMetadata(get)
	}
	return nil, fmt.Errorf("tokenizer: %s %q is not supported (supported: \"gpt2\" byte-level BPE, \"llama\" SentencePiece)", KeyModel, model)
}

// SPMFromMetadata builds a SentencePiece tokenizer from GGUF metadata whose
// tokenizer.ggml.model is "llama". Missing optional keys take llama.cpp's
// defaults: scores 0, all tokens normal, BOS 1, EOS 2, unknown 0, add_bos
// true, add_eos false, add_space_prefix true. Ids out of range are ignored,
// as llama.cpp does, and then the defaults must be in range.
func SPMFromMetadata(get func(key string) (any, bool)) (*SPM, error) {
	model, err := getString(get, KeyModel)
	if err != nil {
		return nil, err
	}
	if model != "llama" {
		return nil, fmt.Errorf("tokenizer: %s is %q, want \"llama\" (SentencePiece)", KeyModel, model)
	}
	tokens, err := getStrings(get, KeyTokens)
	if err != nil {
		return nil, err
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("tokenizer: %s: empty vocabulary", KeyTokens)
	}
	s := SPMSpec{Tokens: tokens, BOS: 1, EOS: 2, UNK: 0, AddBOS: true, AddSpacePrefix: true}
	if s.Scores, err = getPerToken(get, KeyScores, len(tokens), float32s); err != nil {
		return nil, err
	}
	if s.Types, err = getPerToken(get, KeyTokenType, len(tokens), int32s); err != nil {
		return nil, err
	}
	for key, dst := range map[string]*int32{KeyBOS: &s.BOS, KeyEOS: &s.EOS, KeyUNK: &s.UNK} {
		v, ok := get(key)
		if !ok {
			continue
		}
		if _, err := toInt64(v); err != nil {
			return nil, fmt.Errorf("tokenizer: %s: %w", key, err)
		}
		if id, err := tokenID(v, len(tokens)); err == nil {
			*dst = id
		}
	}
	err = getFlags(get, map[string]*bool{KeyAddBOS: &s.AddBOS, KeyAddEOS: &s.AddEOS, KeyAddSpacePrefix: &s.AddSpacePrefix})
	if err != nil {
		return nil, err
	}
	s.Roles = getRoles(get, len(tokens))
	return NewSPM(s)
}

// float32s converts a float slice of a GGUF array.
func float32s(v any) ([]float32, error) {
	switch v := v.(type) {
	case []float32:
		return v, nil
	case []float64:
		out := make([]float32, len(v))
		for i, f := range v {
			out[i] = float32(f)
		}
		return out, nil
	case []any:
		out := make([]float32, len(v))
		for i, e := range v {
			switch f := e.(type) {
			case float32:
				out[i] = f
			case float64:
				out[i] = float32(f)
			default:
				return nil, fmt.Errorf("entry %d: %v (%T) is not a float", i, e, e)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("%T is not a float slice", v)
}
