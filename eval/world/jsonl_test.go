package world

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestJSONLRoundTrip(t *testing.T) {
	w := mustWorld(t, Options{Seed: 4})
	task, err := w.Task(TaskQA)
	if err != nil {
		t.Fatal(err)
	}
	exs := append(task.Train[:5:5],
		Example{Prompt: "a <b> & \"c\"\n", Completion: " d"},
		Example{Messages: []Message{{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello"}}, Task: "chat", Answer: "Hello"},
	)
	path := filepath.Join(t.TempDir(), "data.jsonl")
	var buf bytes.Buffer
	if err := WriteJSONL(&buf, exs); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), `\u003c`) {
		t.Error("WriteJSONL escaped HTML characters")
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadJSONL(path)
	if err != nil {
		t.Fatal(err)
	}
	// The chat example comes back with its derived prompt and completion.
	want := append([]Example(nil), exs...)
	want[6].Prompt, want[6].Completion = "Be brief.\n\nHi", "Hello"
	for i := range want {
		want[i].Line = i + 1
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
}

func TestWriteJSONLRejects(t *testing.T) {
	tests := []struct {
		name string
		ex   Example
		want string
	}{
		{"empty completion", Example{Prompt: "p"}, "missing completion"},
		{"chat ends with user", Example{Messages: []Message{{"user", "a"}, {"user", "b"}}}, "last message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := WriteJSONL(&bytes.Buffer{}, []Example{{Prompt: "ok", Completion: " x"}, tt.ex})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "example 1") {
				t.Fatalf("error = %v, want it to name example 1 and contain %q", err, tt.want)
			}
		})
	}
}

func TestReadJSONL(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []Example
		wantErr string
	}{
		{
			name:    "prompt completion with blank lines, CRLF and BOM",
			content: "\xef\xbb\xbf{\"prompt\":\"p1\",\"completion\":\" c1\",\"answer\":\"c1\",\"task\":\"t\"}\r\n\n  \n{\"prompt\":\"\",\"completion\":\"x\",\"extra\":1}",
			want:    []Example{{Prompt: "p1", Completion: " c1", Answer: "c1", Task: "t", Line: 1}, {Prompt: "", Completion: "x", Line: 4}},
		},
		{
			name:    "messages",
			content: `{"messages":[{"role":"user","content":"Q?"},{"role":"assistant","content":"A"}],"answer":"A"}` + "\n",
			want:    []Example{{Prompt: "Q?", Completion: "A", Answer: "A", Messages: []Message{{"user", "Q?"}, {"assistant", "A"}}, Line: 1}},
		},
		{name: "empty file", content: "", want: nil},
		{name: "invalid JSON", content: "{\"prompt\":\"a\",\"completion\":\"b\"}\n{\"prompt\": oops}\n", wantErr: "data.jsonl:2: invalid JSON: "},
		{name: "not an object", content: "[1,2]\n", wantErr: "data.jsonl:1: invalid JSON: "},
		{name: "trailing garbage", content: "{\"prompt\":\"a\",\"completion\":\"b\"} x\n", wantErr: "data.jsonl:1: invalid JSON: "},
		{name: "missing completion", content: "\n\n{\"prompt\":\"a\"}\n", wantErr: "data.jsonl:3: missing completion"},
		{name: "empty completion", content: "{\"prompt\":\"a\",\"completion\":\"\"}", wantErr: "data.jsonl:1: missing completion"},
		{name: "missing prompt", content: "{\"completion\":\"a\"}", wantErr: "data.jsonl:1: missing prompt"},
		{name: "wrong type", content: "{\"prompt\":5,\"completion\":\"a\"}", wantErr: `data.jsonl:1: field "prompt": got JSON number, want string`},
		{name: "both forms", content: `{"prompt":"p","messages":[{"role":"user","content":"Q"},{"role":"assistant","content":"A"}]}`, wantErr: "data.jsonl:1: both messages and prompt/completion"},
		{name: "bad role", content: `{"messages":[{"role":"robot","content":"Q"},{"role":"assistant","content":"A"}]}`, wantErr: `data.jsonl:1: messages[0]: unknown role "robot"`},
		{name: "last not assistant", content: `{"messages":[{"role":"assistant","content":"Q"},{"role":"user","content":"A"}]}`, wantErr: "data.jsonl:1: messages: last message must be from the assistant"},
		{name: "one message", content: `{"messages":[{"role":"assistant","content":"A"}]}`, wantErr: "data.jsonl:1: messages: need at least 2"},
		{name: "empty messages", content: `{"messages":[]}`, wantErr: "data.jsonl:1: messages: need at least 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "data.jsonl")
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ReadJSONL(path)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), filepath.Dir(path)) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestReadJSONLMissingFile(t *testing.T) {
	if _, err := ReadJSONL(filepath.Join(t.TempDir(), "absent.jsonl")); err == nil {
		t.Fatal("no error for a missing file")
	}
}

func TestReadJSONLLongLine(t *testing.T) {
	long := strings.Repeat("x", 1<<20) // Longer than bufio.Scanner's default limit.
	got, err := ReadJSONLFrom(strings.NewReader(`{"prompt":"`+long+`","completion":"y"}`), "long.jsonl")
	if err != nil || len(got) != 1 || got[0].Prompt != long {
		t.Fatalf("long line: %v", err)
	}
}
