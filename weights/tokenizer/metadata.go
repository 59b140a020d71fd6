package tokenizer

import (
	"fmt"
	"math"
	"slices"
)

// GGUF metadata keys of a BPE tokenizer.
const (
	KeyModel     = "tokenizer.ggml.model"
	KeyPre       = "tokenizer.ggml.pre"
	KeyTokens    = "tokenizer.ggml.tokens"
	KeyTokenType = "tokenizer.ggml.token_type"
	KeyMerges    = "tokenizer.ggml.merges"
	KeyBOS       = "tokenizer.ggml.bos_token_id"
	KeyEOS       = "tokenizer.ggml.eos_token_id"
	KeyAddBOS    = "tokenizer.ggml.add_bos_token"
	KeyAddEOS    = "tokenizer.ggml.add_eos_token"
)

// KV is one GGUF metadata entry. Values are string, []string, []int32,
// uint32 or bool.
type KV struct {
	Key   string
	Value any
}

// Metadata returns the tokenizer as GGUF metadata, in a fixed order. The
// add_bos/add_eos flags are always written so llama.cpp does not fall back
// to its per-pre-tokenizer defaults.
func (t *BPE) Metadata() []KV {
	return []KV{
		{KeyModel, "gpt2"},
		{KeyPre, t.pre},
		{KeyTokens, slices.Clone(t.tokens)},
		{KeyTokenType, t.typesOrNormal()},
		{KeyMerges, slices.Clone(t.merges)},
		{KeyBOS, uint32(t.bos)},
		{KeyEOS, uint32(t.eos)},
		{KeyAddBOS, t.addBOS},
		{KeyAddEOS, t.addEOS},
	}
}

// roleKeys are the special-token id keys that stop llama.cpp from looking
// for those roles by token text.
var roleKeys = map[string]string{
	"tokenizer.ggml.eot_token_id":     "eot",
	"tokenizer.ggml.eom_token_id":     "eom",
	"tokenizer.ggml.fim_pre_token_id": "fim_pre",
	"tokenizer.ggml.fim_suf_token_id": "fim_suf",
	"tokenizer.ggml.fim_mid_token_id": "fim_mid",
	"tokenizer.ggml.fim_pad_token_id": "fim_pad",
	"tokenizer.ggml.fim_rep_token_id": "fim_rep",
	"tokenizer.ggml.fim_sep_token_id": "fim_sep",
	"tokenizer.ggml.prefix_token_id":  "fim_pre",
	"tokenizer.ggml.suffix_token_id":  "fim_suf",
	"tokenizer.ggml.middle_token_id":  "fim_mid",
}

// FromMetadata builds the tokenizer of a GGUF file from its metadata, read
// through get (which reports whether a key exists). It accepts the value
// types a GGUF reader returns: string, []string or []any of strings, integer
// slices of any width for token types, any integer type for ids, and bool.
// Missing optional keys take llama.cpp's defaults: all tokens normal, BOS and
// EOS id 11, add_bos true only for llama-3 pre-tokenizers, add_eos false.
func FromMetadata(get func(key string) (any, bool)) (*BPE, error) {
	model, err := getString(get, KeyModel)
	if err != nil {
		return nil, err
	}
	if model != "gpt2" {
		return nil, fmt.Errorf("tokenizer: %s is %q, want \"gpt2\" (byte-level BPE)", KeyModel, model)
	}
	pre, err := getString(get, KeyPre)
	if err != nil {
		return nil, fmt.Errorf("%w (llama.cpp would use its \"default\" pre-tokenizer, which is not supported)", err)
	}
	if _, err := lookupPre(pre); err != nil {
		return nil, err
	}
	tokens, err := getStrings(get, KeyTokens)
	if err != nil {
		return nil, err
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("tokenizer: %s: empty vocabulary", KeyTokens)
	}
	merges, err := getStrings(get, KeyMerges)
	if err != nil {
		return nil, err
	}
	s := spec{pre: pre, tokens: tokens, merges: merges, bos: 11, eos: 11, addBOS: llama3Flags(pre)}
	if s.types, err = getPerToken(get, KeyTokenType, len(tokens), int32s); err != nil {
		return nil, err
	}
	for key, dst := range map[string]*int32{KeyBOS: &s.bos, KeyEOS: &s.eos} {
		v, ok := get(key)
		if !ok {
			continue
		}
		id, err := tokenID(v, len(tokens))
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %s: %w", key, err)
		}
		*dst = id
	}
	if err := getFlags(get, map[string]*bool{KeyAddBOS: &s.addBOS, KeyAddEOS: &s.addEOS}); err != nil {
		return nil, err
	}
	s.roles = getRoles(get, len(tokens))
	return newBPE(s)
}

// getPerToken reads the array at key, when present, with conv; it must have
// one entry per token (n).
func getPerToken[T any](get func(string) (any, bool), key string, n int, conv func(any) ([]T, error)) ([]T, error) {
	v, ok := get(key)
	if !ok {
		return nil, nil
	}
	out, err := conv(v)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", key, err)
	}
	if len(out) != n {
		return nil, fmt.Errorf("tokenizer: %s has %d entries for %d tokens", key, len(out), n)
	}
	return out, nil
}

// getFlags sets each flag whose key is present; its value must be a bool.
func getFlags(get func(string) (any, bool), flags map[string]*bool) error {
	for key, dst := range flags {
		v, ok := get(key)
		if !ok {
			continue
		}
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("tokenizer: %s is %T, want bool", key, v)
		}
		*dst = b
	}
	return nil
}

// getRoles returns the special-token roles whose ids the metadata gives in
// range [0, n): llama.cpp ignores an out-of-range id and searches by text.
func getRoles(get func(string) (any, bool), n int) map[string]bool {
	roles := map[string]bool{}
	for key, role := range roleKeys {
		if v, ok := get(key); ok {
			if _, err := tokenID(v, n); err == nil {
				roles[role] = true
			}
		}
	}
	return roles
}

func getString(get func(string) (any, bool), key string) (string, error) {
	v, ok := get(key)
	if !ok {
		return "", fmt.Errorf("tokenizer: missing %s", key)
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("tokenizer: %s is %T, want string", key, v)
	}
	return s, nil
}

func getStrings(get func(string) (any, bool), key string) ([]string, error) {
	v, ok := get(key)
	if !ok {
		return nil, fmt.Errorf("tokenizer: missing %s", key)
	}
	switch v := v.(type) {
	case []string:
		return v, nil
	case []any:
		out := make([]string, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("tokenizer: %s[%d] is %T, want string", key, i, e)
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, fmt.Errorf("tokenizer: %s is %T, want []string", key, v)
}

// int32s converts an integer slice of any GGUF integer type.
func int32s(v any) ([]int32, error) {
	switch v := v.(type) {
	case []int32:
		return v, nil
	case []any:
		out := make([]int32, len(v))
		for i, e := range v {
			n, err := toInt64(e)
			if err != nil || n < math.MinInt32 || n > math.MaxInt32 {
				return nil, fmt.Errorf("entry %d: %v (%T) is not an int32", i, e, e)
			}
			out[i] = int32(n)
		}
		return out, nil
	case []int8:
		return convert(v), nil
	case []uint8:
		return convert(v), nil
	case []int16:
		return convert(v), nil
	case []uint16:
		return convert(v), nil
	case []uint32:
		return convertChecked(v)
	case []int64:
		return convertChecked(v)
	case []uint64:
		return convertChecked(v)
	case []int:
		return convertChecked(v)
	}
	return nil, fmt.Errorf("%T is not an integer slice", v)
}

func convert[T int8 | uint8 | int16 | uint16](v []T) []int32 {
	out := make([]int32, len(v))
	for i, e := range v {
		out[i] = int32(e)
	}
	return out
}

func convertChecked[T uint32 | int64 | uint64 | int](v []T) ([]int32, error) {
	out := make([]int32, len(v))
	for i, e := range v {
		n, err := toInt64(e)
		if err != nil || n < math.MinInt32 || n > math.MaxInt32 {
			return nil, fmt.Errorf("entry %d: %v does not fit an int32", i, e)
		}
		out[i] = int32(n)
	}
	return out, nil
}

func toInt64(v any) (int64, error) {
	switch n := v.(type) {
	case int8:
		return int64(n), nil
	case uint8:
		return int64(n), nil
	case int16:
		return int64(n), nil
	case uint16:
		return int64(n), nil
	case int32:
		return int64(n), nil
	case uint32:
		return int64(n), nil
	case int64:
		return n, nil
	case int:
		return int64(n), nil
	case uint64:
		if n > math.MaxInt64 {
			return 0, fmt.Errorf("%d overflows", n)
		}
		return int64(n), nil
	case uint:
		if uint64(n) > math.MaxInt64 {
			return 0, fmt.Errorf("%d overflows", n)
		}
		return int64(n), nil
	}
	return 0, fmt.Errorf("%T is not an integer", v)
}

// tokenID converts a GGUF integer to a token id in [0, n).
func tokenID(v any, n int) (int32, error) {
	id, err := toInt64(v)
	if err != nil {
		return 0, err
	}
	if id < 0 || id >= int64(n) {
		return 0, fmt.Errorf("token id %d out of range [0,%d)", id, n)
	}
	return int32(id), nil
}
