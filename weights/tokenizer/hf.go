package tokenizer

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Well-known special token texts LoadHF takes as BOS and EOS, in order of
// preference.
var (
	hfBOSNames = []string{"<|begin_of_text|>", "<|bos|>", "<s>", "<|startoftext|>", "<|endoftext|>"}
	hfEOSNames = []string{"<|end_of_text|>", "<|eos|>", "</s>", "<|endoftext|>"}
)

// LoadHF builds a tokenizer from GPT-2 style files: encoderJSON maps token
// text to id (encoder.json / vocab.json) and vocabBPE lists the merges in rank
// order (vocab.bpe / merges.txt, an optional "#version" first line skipped).
// specials adds control tokens by id, as added_tokens do (for llama-3.2:
// "<|begin_of_text|>": 128000, "<|end_of_text|>": 128001). Ids nobody claims
// become unused "[PAD<id>]" tokens, as llama.cpp's converter writes them.
// BOS and EOS are the first of the well-known texts present (for example
// <|begin_of_text|> and <|end_of_text|>), else llama.cpp's default id 11;
// BOS is added when pre is a llama-3 pre-tokenizer, as llama.cpp defaults.
func LoadHF(encoderJSON, vocabBPE io.Reader, pre string, specials map[string]int32) (*BPE, error) {
	if _, err := lookupPre(pre); err != nil {
		return nil, err
	}
	var encoder map[string]int32
	if err := json.NewDecoder(encoderJSON).Decode(&encoder); err != nil {
		return nil, fmt.Errorf("tokenizer: decode encoder json: %w", err)
	}
	size := 0
	for text, id := range encoder {
		if id < 0 {
			return nil, fmt.Errorf("tokenizer: encoder json: token %q has negative id %d", text, id)
		}
		size = max(size, int(id)+1)
	}
	for text, id := range specials {
		if id < 0 {
			return nil, fmt.Errorf("tokenizer: special token %q has negative id %d", text, id)
		}
		size = max(size, int(id)+1)
	}
	if size == 0 {
		return nil, fmt.Errorf("tokenizer: encoder json has no tokens")
	}
	if size > 1<<24 {
		return nil, fmt.Errorf("tokenizer: token id %d is implausibly large", size-1)
	}
	tokens := make([]string, size)
	types := make([]int32, size)
	set := make([]bool, size)
	claim := func(text string, id int32, typ int32) error {
		if set[id] && tokens[id] != text {
			return fmt.Errorf("tokenizer: id %d is both %q and %q", id, tokens[id], text)
		}
		tokens[id], types[id], set[id] = text, typ, true
		return nil
	}
	for text, id := range encoder {
		if err := claim(text, id, TypeNormal); err != nil {
			return nil, err
		}
	}
	for text, id := range specials {
		if other, ok := encoder[text]; ok && other != id {
			return nil, fmt.Errorf("tokenizer: special token %q has id %d but the encoder gives %d", text, id, other)
		}
		if err := claim(text, id, TypeControl); err != nil {
			return nil, err
		}
	}
	for id := range tokens {
		if !set[id] {
			tokens[id], types[id] = fmt.Sprintf("[PAD%d]", id), TypeUnused
		}
	}

	var merges []string
	sc := bufio.NewScanner(vocabBPE)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for first := true; sc.Scan(); first = false {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" || (first && strings.HasPrefix(line, "#version")) {
			continue
		}
		merges = append(merges, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("tokenizer: read merges: %w", err)
	}

	s := spec{pre: pre, tokens: tokens, types: types, merges: merges, bos: 11, eos: 11, addBOS: llama3Flags(pre)}
	pick := func(names []string, dst *int32) {
		for _, name := range names {
			if id, ok := specials[name]; ok {
				*dst = id
				return
			}
			if id, ok := encoder[name]; ok {
				*dst = id
				return
			}
		}
	}
	pick(hfBOSNames, &s.bos)
	pick(hfEOSNames, &s.eos)
	if int(s.bos) >= size || int(s.eos) >= size {
		return nil, fmt.Errorf("tokenizer: no BOS/EOS token found and the default id 11 is outside the %d-token vocabulary", size)
	}
	return newBPE(s)
}
