package ollama_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	ollamaapi "github.com/ollama/ollama/api"

	"github.com/fastslow/fastslow/adapters/ollama"
)

// templateIndex reads the Jinja templates Ollama's template package matches against (template/index.json of
// the ollama module this project builds with).
func templateIndex(t *testing.T) map[string]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/ollama/ollama").Output()
	if err != nil {
		t.Fatalf("locate the ollama module: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "template")
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var index []struct{ Name, Template string }
	if err := json.Unmarshal(b, &index); err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range index {
		m[e.Name] = e.Template
	}
	return m
}

func TestGGUFChatTemplate(t *testing.T) {
	index := templateIndex(t)
	tests := []struct {
		name, jinja, want string
		wantErr           error
	}{
		{"llama-3", index["llama3-instruct"], "llama3-instruct", nil},
		{"chatml", index["chatml"], "chatml", nil},
		{"gemma", index["gemma-instruct"], "gemma-instruct", nil},
		{"llama-3 with a small edit", strings.Replace(index["llama3-instruct"], "'\\n\\n'", "'\\n'", 1), "llama3-instruct", nil},
		{"none", "", "", ollama.ErrNoChatTemplate},
		{"unknown", strings.Repeat("{% for m in messages %}{{ m.content }}{% endfor %}", 8), "", ollama.ErrNoChatTemplate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.jinja == "" && tt.wantErr == nil {
				t.Fatal("template missing from the index")
			}
			got, err := ollama.GGUFChatTemplate(tt.jinja)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != tt.want {
				t.Fatalf("derived %s, want %s", got.Name, tt.want)
			}
		})
	}
}

// TestChatTemplateRender checks what the chat handler does around the template: the model's messages come
// first, its system prompt only when the request has none, and qwen3 models lose earlier <think> blocks.
func TestChatTemplateRender(t *testing.T) {
	tmpl, err := ollama.ParseChatTemplate("plain", "{{ range .Messages }}[{{ .Role }}]{{ .Content }}{{ end }}{{ if .Think }}<think on>{{ end }}")
	if err != nil {
		t.Fatal(err)
	}
	user := func(s string) ollamaapi.Message { return ollamaapi.Message{Role: "user", Content: s} }
	tests := []struct {
		name string
		set  func(*ollama.ChatTemplate)
		msgs []ollamaapi.Message
		want string
	}{
		{"bare", func(*ollama.ChatTemplate) {}, []ollamaapi.Message{user("hi")}, "[user]hi"},
		{"model system", func(c *ollama.ChatTemplate) { c.System = "S" }, []ollamaapi.Message{user("hi")}, "[system]S[user]hi"},
		{"request system wins", func(c *ollama.ChatTemplate) { c.System = "S" },
			[]ollamaapi.Message{{Role: "system", Content: "R"}, user("hi")}, "[system]R[user]hi"},
		{"model messages first", func(c *ollama.ChatTemplate) {
			c.Messages = []ollamaapi.Message{user("m"), {Role: "assistant", Content: "n"}}
		},
			[]ollamaapi.Message{user("hi")}, "[user]m[assistant]n[user]hi"},
		{"thinking on", func(c *ollama.ChatTemplate) { c.Think = true }, []ollamaapi.Message{user("hi")}, "[user]hi<think on>"},
		{"qwen3 drops earlier thinking", func(c *ollama.ChatTemplate) { c.FilterThink = true },
			[]ollamaapi.Message{user("a"), {Role: "assistant", Content: "<think>x</think>b"}, user("c"), {Role: "assistant", Content: "<think>y</think>d"}},
			"[user]a[assistant]b[user]c[assistant]<think>y</think>d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := *tmpl
			tt.set(&c)
			got, err := c.Render(tt.msgs)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
