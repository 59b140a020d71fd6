package ollama_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ollamaapi "github.com/ollama/ollama/api"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/internal/ollamamod"
	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights/gguf"
)

// templateIndex reads the Jinja templates Ollama's template package matches against (template/index.json of
// the ollama module this project builds with).
func templateIndex(t *testing.T) map[string]string {
	t.Helper()
	templates, err := ollamamod.Templates()
	if err != nil {
		t.Fatal(err)
	}
	return templates
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

// TestChatTemplateMatchesServer: for Ollama's built-in templates of the common chat formats, a model created
// with the template answers /api/chat after evaluating exactly as many prompt tokens as our rendering of the
// same conversation has, on every server version tested (the model is unloaded before each request so that no
// cached prefix is skipped).
func TestChatTemplateMatchesServer(t *testing.T) {
	c := ollamatest.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	path := filepath.Join(t.TempDir(), "tiny.gguf")
	_, tok, err := tinymodel.Write(ctx, path, 2, 0.05, gguf.TypeF32)
	if err != nil {
		t.Fatal(err)
	}
	index := templateIndex(t)
	convs := [][]ollamaapi.Message{
		{{Role: "user", Content: "Hi there"}},
		{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hi"}, {Role: "assistant", Content: "Hello!"}, {Role: "user", Content: "2+2?"}},
	}
	for _, name := range []string{"llama3-instruct", "chatml", "gemma-instruct", "mistral-instruct", "phi-3", "zephyr"} {
		t.Run(name, func(t *testing.T) {
			tmpl, err := ollama.GGUFChatTemplate(index[name])
			if err != nil {
				t.Fatal(err)
			}
			if tmpl.Name != name {
				t.Fatalf("derived %s", tmpl.Name)
			}
			model := ollamatest.UniqueName(t, "fastslow-tmpl")
			if err := c.CreateFromGGUF(ctx, model, path, ollama.CreateOptions{Template: tmpl.Source, SkipLoadCheck: true}); err != nil {
				t.Fatal(err)
			}
			for _, conv := range convs {
				text, err := tmpl.Render(conv)
				if err != nil {
					t.Fatal(err)
				}
				if err := c.Unload(ctx, model); err != nil {
					t.Fatal(err)
				}
				g, err := c.Chat(ctx, model, conv, ollama.GenerateOptions{NumPredict: 1})
				if err != nil {
					t.Fatal(err)
				}
				if n := len(tok.Encode(text, true)); n != g.PromptEvalCount {
					t.Errorf("%d messages: our rendering has %d tokens, the server evaluated %d:\n%q", len(conv), n, g.PromptEvalCount, text)
				}
			}
		})
	}
}
