package world

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Example is one supervised instance in the common SFT JSONL format:
// {"prompt": ..., "completion": ..., "answer": ..., "task": ...}.
// Chat-style lines {"messages": [{"role": ..., "content": ...}, ...]} are
// accepted on read as well.
type Example struct {
	// Prompt is the text the model is conditioned on.
	Prompt string `json:"prompt"`
	// Completion is the target continuation, usually a space and the answer.
	Completion string `json:"completion"`
	// Answer is the exact string a correct output must match, if any.
	Answer string `json:"answer,omitempty"`
	// Task names the task the example belongs to, if any.
	Task string `json:"task,omitempty"`
	// Messages holds the conversation when the example was read in chat
	// form. Prompt and Completion are then derived from it (see ReadJSONL);
	// a trainer that knows the model's chat template should render Messages
	// itself. WriteJSONL writes such examples back in chat form.
	Messages []Message `json:"messages,omitempty"`
	// Line is the example's line in the file ReadJSONL read it from (from 1), for error messages; 0 when
	// the example did not come from a file.
	Line int `json:"-"`
}

// Message is one turn of a chat-form example.
type Message struct {
	Role    string `json:"role"` // "system", "user" or "assistant"
	Content string `json:"content"`
}

// rawExample mirrors a JSONL line with pointers so that a missing field can
// be told apart from an empty one.
type rawExample struct {
	Prompt     *string   `json:"prompt"`
	Completion *string   `json:"completion"`
	Answer     string    `json:"answer"`
	Task       string    `json:"task"`
	Messages   []Message `json:"messages"`
}

// WriteJSONL writes examples to w, one JSON object per line. Every example
// must be readable by ReadJSONL: a non-empty completion, or valid messages.
func WriteJSONL(w io.Writer, examples []Example) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false) // Keep prompts byte-for-byte readable ("<", "&").
	for i, ex := range examples {
		var v any = ex
		if len(ex.Messages) > 0 {
			if err := checkMessages(ex.Messages); err != nil {
				return fmt.Errorf("write example %d: %w", i, err)
			}
			v = struct {
				Messages []Message `json:"messages"`
				Answer   string    `json:"answer,omitempty"`
				Task     string    `json:"task,omitempty"`
			}{ex.Messages, ex.Answer, ex.Task}
		} else if ex.Completion == "" {
			return fmt.Errorf("write example %d: missing completion", i)
		}
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("write example %d: %w", i, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write examples: %w", err)
	}
	return nil
}

// DefaultMaxLine is the longest JSONL line, in bytes, the readers accept
// when ReadOptions.MaxLine is zero.
const DefaultMaxLine = 4 << 20

// ErrLineTooLong matches (with errors.Is) the error of a line longer than
// the limit. The reader stops at the limit: it never holds more of the line.
var ErrLineTooLong = errors.New("line too long")

// ReadOptions tune the JSONL readers.
type ReadOptions struct {
	// MaxLine is the longest line accepted, in bytes; zero means
	// DefaultMaxLine. It bounds every field of a line, and the memory a
	// reader uses, before anything is parsed or tokenized.
	MaxLine int
}

// ReadJSONL reads the examples in the JSONL file at path. Blank lines are
// skipped. A malformed line yields an error naming the file and line, such
// as "data.jsonl:17: invalid JSON: ...". For a chat-form line the completion
// is the last message, which must come from the assistant, and the prompt is
// the content of the earlier messages joined by blank lines. Lines are
// bounded by DefaultMaxLine (see ReadJSONLWith).
func ReadJSONL(path string) ([]Example, error) {
	return ReadJSONLWith(path, ReadOptions{})
}

// ReadJSONLWith reads the examples in the JSONL file at path like ReadJSONL,
// with the given options.
func ReadJSONLWith(path string, o ReadOptions) ([]Example, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read examples: %w", err)
	}
	defer f.Close()
	return readJSONL(f, path, o)
}

// ReadJSONLFrom reads JSONL examples from r like ReadJSONL; name is used in
// error messages in place of a file name.
func ReadJSONLFrom(r io.Reader, name string) ([]Example, error) {
	return readJSONL(r, name, ReadOptions{})
}

func readJSONL(r io.Reader, name string, o ReadOptions) ([]Example, error) {
	var out []Example
	err := ReadLines(r, name, o.MaxLine, func(lineNo int, line []byte) error {
		ex, err := parseLine(line)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", name, lineNo, err)
		}
		ex.Line = lineNo
		out = append(out, ex)
		return nil
	})
	return out, err
}

// ReadLines calls fn with every non-blank line of r, trimmed of surrounding
// space (and of a UTF-8 byte-order mark on the first line), with its number.
// A line longer than max bytes (zero: DefaultMaxLine) ends the read with an
// error matching ErrLineTooLong that names name and the line, after reading
// at most max bytes of it plus a buffer; an error from fn ends it too.
func ReadLines(r io.Reader, name string, max int, fn func(lineNo int, line []byte) error) error {
	if max <= 0 {
		max = DefaultMaxLine
	}
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	for lineNo := 1; ; lineNo++ {
		line = line[:0]
		var err error
		for {
			var chunk []byte
			chunk, err = br.ReadSlice('\n')
			n := len(line) + len(chunk)
			if len(chunk) > 0 && chunk[len(chunk)-1] == '\n' {
				n-- // the newline is not part of the line
			}
			if n > max {
				return fmt.Errorf("%s:%d: %w: more than %d bytes (the max_line setting)", name, lineNo, ErrLineTooLong, max)
			}
			line = append(line, chunk...)
			if !errors.Is(err, bufio.ErrBufferFull) {
				break
			}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("%s:%d: %w", name, lineNo, err)
		}
		l := line
		if lineNo == 1 {
			l = bytes.TrimPrefix(l, []byte("\xef\xbb\xbf")) // UTF-8 byte-order mark
		}
		if trimmed := bytes.TrimSpace(l); len(trimmed) > 0 {
			if ferr := fn(lineNo, trimmed); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
	}
}

func parseLine(line []byte) (Example, error) {
	var raw rawExample
	if err := json.Unmarshal(line, &raw); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" && typeErr.Type != nil {
			return Example{}, fmt.Errorf("field %q: got JSON %s, want %s", typeErr.Field, typeErr.Value, jsonKind(typeErr.Type.Kind().String()))
		}
		return Example{}, fmt.Errorf("invalid JSON: %w", err)
	}
	ex := Example{Answer: raw.Answer, Task: raw.Task}
	if raw.Messages != nil {
		if raw.Prompt != nil || raw.Completion != nil {
			return Example{}, errors.New("both messages and prompt/completion given")
		}
		if err := checkMessages(raw.Messages); err != nil {
			return Example{}, err
		}
		ex.Messages = raw.Messages
		ex.Prompt, ex.Completion = flattenMessages(raw.Messages)
		return ex, nil
	}
	switch {
	case raw.Prompt == nil:
		return Example{}, errors.New("missing prompt")
	case raw.Completion == nil || *raw.Completion == "":
		return Example{}, errors.New("missing completion")
	}
	ex.Prompt, ex.Completion = *raw.Prompt, *raw.Completion
	return ex, nil
}

// checkMessages validates a chat-form example.
func checkMessages(msgs []Message) error {
	if len(msgs) < 2 {
		return fmt.Errorf("messages: need at least 2 messages, got %d", len(msgs))
	}
	for i, m := range msgs {
		switch m.Role {
		case "system", "user", "assistant":
		default:
			return fmt.Errorf("messages[%d]: unknown role %q", i, m.Role)
		}
	}
	last := msgs[len(msgs)-1]
	if last.Role != "assistant" {
		return fmt.Errorf("messages: last message must be from the assistant, got %q", last.Role)
	}
	if last.Content == "" {
		return errors.New("messages: missing completion (last assistant message is empty)")
	}
	return nil
}

func flattenMessages(msgs []Message) (prompt, completion string) {
	parts := make([]string, 0, len(msgs)-1)
	for _, m := range msgs[:len(msgs)-1] {
		parts = append(parts, m.Content)
	}
	return strings.Join(parts, "\n\n"), msgs[len(msgs)-1].Content
}

// jsonKind names a Go kind the way a JSON author would.
func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "slice":
		return "array"
	case "struct", "map":
		return "object"
	}
	return goKind
}
