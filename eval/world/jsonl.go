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

// ReadJSONL reads the examples in the JSONL file at path. Blank lines are
// skipped. A malformed line yields an error naming the file and line, such
// as "data.jsonl:17: invalid JSON: ...". For a chat-form line the completion
// is the last message, which must come from the assistant, and the prompt is
// the content of the earlier messages joined by blank lines.
func ReadJSONL(path string) ([]Example, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read examples: %w", err)
	}
	defer f.Close()
	return ReadJSONLFrom(f, path)
}

// ReadJSONLFrom reads JSONL examples from r like ReadJSONL; name is used in
// error messages in place of a file name.
func ReadJSONLFrom(r io.Reader, name string) ([]Example, error) {
	br := bufio.NewReader(r)
	var out []Example
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s:%d: %w", name, lineNo, err)
		}
		if lineNo == 1 {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")) // UTF-8 byte-order mark
		}
		if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 {
			ex, perr := parseLine(trimmed)
			if perr != nil {
				return nil, fmt.Errorf("%s:%d: %w", name, lineNo, perr)
			}
			ex.Line = lineNo
			out = append(out, ex)
		}
		if errors.Is(err, io.EOF) {
			return out, nil
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
