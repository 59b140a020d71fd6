package tokenizer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Chat-format tokens of gemma3 that Ollama's converter types as control
// tokens although its tokenizer.model calls them user-defined.
var gemmaControl = []string{
	"<end_of_turn>", "<start_of_turn>", "<start_function_declaration>", "<end_function_declaration>",
	"<start_function_call>", "<end_function_call>", "<start_function_response>", "<end_function_response>", "<escape>",
}

// SentencePiece piece types (sentencepiece_model.proto), the same numbers as
// the GGUF token types.
const (
	spNormal      = 1
	spUnknown     = 2
	spControl     = 3
	spUserDefined = 4
	spUnused      = 5
	spByte        = 6
)

// FromSentencePiece builds the tokenizer of a SentencePiece model file (a
// tokenizer.model, serialized ModelProto) as Ollama's converter writes it into
// a GGUF: every piece with its score; unknown, control, unused and byte pieces
// keep their type, the others (user-defined ones too) become normal tokens
// except gemma3's chat tokens such as <start_of_turn>, which become control
// tokens. BOS, EOS and unknown ids come from the trainer spec, and
// add_space_prefix from the normalizer's add_dummy_prefix (false for gemma).
func FromSentencePiece(model []byte) (*SPM, error) {
	m, err := parseModelProto(model)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: sentencepiece model: %w", err)
	}
	s := SPMSpec{
		Tokens:         make([]string, len(m.pieces)),
		Scores:         make([]float32, len(m.pieces)),
		Types:          make([]int32, len(m.pieces)),
		BOS:            m.bos,
		EOS:            m.eos,
		UNK:            m.unk,
		AddBOS:         true,
		AddSpacePrefix: m.addDummyPrefix,
	}
	for i, p := range m.pieces {
		s.Tokens[i], s.Scores[i] = p.text, p.score
		switch p.typ {
		case spUnknown, spControl, spUnused, spByte:
			s.Types[i] = p.typ
		default:
			s.Types[i] = spNormal
			if slices.Contains(gemmaControl, p.text) {
				s.Types[i] = spControl
			}
		}
	}
	return NewSPM(s)
}

// spPiece is one ModelProto.SentencePiece.
type spPiece struct {
	text  string
	score float32
	typ   int32
}

// modelProto holds the fields of a ModelProto the tokenizer needs.
type modelProto struct {
	pieces         []spPiece
	unk, bos, eos  int32
	addDummyPrefix bool
}

// parseModelProto reads the protobuf wire format of sentencepiece_model.proto:
// pieces (field 1: piece 1, score 2, type 3), trainer_spec (field 2: unk_id
// 40, bos_id 41, eos_id 42) and normalizer_spec (field 3: add_dummy_prefix 3),
// with the proto's defaults for missing fields.
func parseModelProto(data []byte) (modelProto, error) {
	m := modelProto{unk: 0, bos: 1, eos: 2, addDummyPrefix: true}
	err := walkProto(data, func(field int, wire int, v uint64, b []byte) error {
		switch {
		case field == 1 && wire == 2:
			p := spPiece{typ: spNormal}
			err := walkProto(b, func(field, wire int, v uint64, b []byte) error {
				switch {
				case field == 1 && wire == 2:
					p.text = string(b)
				case field == 2 && wire == 5:
					p.score = math.Float32frombits(uint32(v))
				case field == 3 && wire == 0:
					p.typ = int32(v)
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("piece %d: %w", len(m.pieces), err)
			}
			m.pieces = append(m.pieces, p)
		case field == 2 && wire == 2:
			return walkProto(b, func(field, wire int, v uint64, _ []byte) error {
				if wire != 0 {
					return nil
				}
				switch field {
				case 40:
					m.unk = int32(v)
				case 41:
					m.bos = int32(v)
				case 42:
					m.eos = int32(v)
				}
				return nil
			})
		case field == 3 && wire == 2:
			return walkProto(b, func(field, wire int, v uint64, _ []byte) error {
				if field == 3 && wire == 0 {
					m.addDummyPrefix = v != 0
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return m, err
	}
	if len(m.pieces) == 0 {
		return m, errors.New("no pieces")
	}
	return m, nil
}

// walkProto calls fn for each field of a protobuf message: v holds a varint
// or fixed value, b the bytes of a length-delimited one.
func walkProto(data []byte, fn func(field, wire int, v uint64, b []byte) error) error {
	for len(data) > 0 {
		key, n := binary.Uvarint(data)
		if n <= 0 {
			return errors.New("bad field key")
		}
		data = data[n:]
		field, wire := int(key>>3), int(key&7)
		var v uint64
		var b []byte
		switch wire {
		case 0:
			v, n = binary.Uvarint(data)
			if n <= 0 {
				return fmt.Errorf("field %d: bad varint", field)
			}
			data = data[n:]
		case 1:
			if len(data) < 8 {
				return fmt.Errorf("field %d: truncated", field)
			}
			v, data = binary.LittleEndian.Uint64(data), data[8:]
		case 2:
			l, n := binary.Uvarint(data)
			if n <= 0 || l > uint64(len(data)-n) {
				return fmt.Errorf("field %d: bad length", field)
			}
			b, data = data[n:n+int(l)], data[n+int(l):]
		case 5:
			if len(data) < 4 {
				return fmt.Errorf("field %d: truncated", field)
			}
			v, data = uint64(binary.LittleEndian.Uint32(data)), data[4:]
		default:
			return fmt.Errorf("field %d: unsupported wire type %d", field, wire)
		}
		if err := fn(field, wire, v, b); err != nil {
			return err
		}
	}
	return nil
}
