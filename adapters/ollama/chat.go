package ollama

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	ollamaapi "github.com/ollama/ollama/api"
	"github.com/ollama/ollama/template"
	"github.com/ollama/ollama/thinking"
)

// ChatTemplate renders a conversation into the prompt text Ollama gives a model for /api/chat. It runs
// Ollama's own template package (github.com/ollama/ollama/template, the version this module requires) on the
// model's stored Go template and repeats what the chat handler does around it: the model's MESSAGE turns
// come first, its SYSTEM prompt is prepended when the conversation does not open with a system message,
// <think> blocks are dropped from earlier assistant turns of qwen3 models, and a model with the thinking
// capability renders with thinking on, the default of a request without "think". Context truncation is not
// repeated: a conversation must fit the context (the training data builder checks that).
type ChatTemplate struct {
	// Name says where the template came from: "ollama:<model>" for a model's stored template, or the name
	// of the built-in template Ollama derives from a GGUF's tokenizer.chat_template.
	Name string
	// Source is the Go template text.
	Source string
	// System and Messages are the model's SYSTEM prompt and MESSAGE turns.
	System   string
	Messages []ollamaapi.Message
	// Think is whether the model has the thinking capability (a request without "think" then renders with
	// thinking on); always false for servers that predate it.
	Think bool
	// FilterThink drops <think>…</think> from assistant turns before the last user turn, as the server does
	// for the qwen3 family.
	FilterThink bool

	tmpl *template.Template
}

// ChatTemplate returns the chat template of the model name as the server stores it (/api/show). A model
// whose chat format is one of the server's built-in renderers (no Go template) is refused: Ollama renders
// it in code this package does not run.
func (c *Client) ChatTemplate(ctx context.Context, name string) (*ChatTemplate, error) {
	show, err := c.show(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("chat template of %q: %w", name, err)
	}
	if show.Renderer != "" {
		return nil, fmt.Errorf("chat template of %q: the server renders it with its built-in renderer %q, not a template; chat data for it is not supported", name, show.Renderer)
	}
	t, err := ParseChatTemplate("ollama:"+name, show.Template)
	if err != nil {
		return nil, fmt.Errorf("chat template of %q: %w", name, err)
	}
	t.System, t.Messages = show.System, show.Messages
	t.Think = slices.Contains(show.Capabilities, "thinking")
	t.FilterThink = show.Details.Family == "qwen3"
	return t, nil
}

// ParseChatTemplate parses a Go template in Ollama's dialect (with its functions, and {{ .Response }}
// appended to a template that names neither messages nor the response, as the server does).
func ParseChatTemplate(name, source string) (*ChatTemplate, error) {
	t, err := template.Parse(source)
	if err != nil {
		return nil, fmt.Errorf("parse template %s: %w", name, err)
	}
	return &ChatTemplate{Name: name, Source: source, tmpl: t}, nil
}

// ErrNoChatTemplate is returned (wrapped) by GGUFChatTemplate when Ollama would give the model no chat
// template of its own.
var ErrNoChatTemplate = errors.New("no chat template Ollama recognizes")

// GGUFChatTemplate returns the template Ollama derives when it creates a model from a GGUF file whose
// tokenizer.chat_template (Jinja) is jinja: the built-in template whose reference Jinja text is nearest by
// edit distance, if nearer than 100 edits (server/model.go detectChatTemplate with template.Named). It fails
// with ErrNoChatTemplate when jinja is empty or nothing is near: Ollama would then serve the bare prompt
// ({{ .Prompt }}), which has no turns to train on. The templates and the rule are those of the Ollama
// module this package is built with; older servers may pick from an older list.
func GGUFChatTemplate(jinja string) (*ChatTemplate, error) {
	if jinja == "" {
		return nil, fmt.Errorf("%w: the GGUF has no tokenizer.chat_template", ErrNoChatTemplate)
	}
	named, err := template.Named(jinja)
	if err != nil {
		return nil, fmt.Errorf("%w: the GGUF's tokenizer.chat_template matches none of Ollama's built-in templates (%v); create the model in Ollama with a TEMPLATE and train on its name", ErrNoChatTemplate, err)
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(named.Reader()); err != nil {
		return nil, fmt.Errorf("template %s: %w", named.Name, err)
	}
	return ParseChatTemplate(named.Name, b.String())
}

// Render returns the prompt text the server builds for /api/chat from msgs (the request's messages, in
// order), without truncation. A template that fails to execute is an error.
func (t *ChatTemplate) Render(msgs []ollamaapi.Message) (string, error) {
	all := append(slices.Clone(t.Messages), msgs...)
	if t.System != "" && (len(msgs) == 0 || msgs[0].Role != "system") {
		all = append([]ollamaapi.Message{{Role: "system", Content: t.System}}, all...)
	}
	if t.FilterThink {
		last := -1
		for i, m := range all {
			if m.Role == "user" {
				last = i
			}
		}
		for i, m := range all {
			if m.Role == "assistant" && i < last {
				p := &thinking.Parser{OpeningTag: "<think>", ClosingTag: "</think>"}
				_, all[i].Content = p.AddContent(m.Content)
			}
		}
	}
	var b bytes.Buffer
	v := template.Values{Messages: all, Think: t.Think, IsThinkSet: t.Think}
	if err := t.tmpl.Execute(&b, v); err != nil {
		return "", fmt.Errorf("render template %s: %w", t.Name, err)
	}
	return b.String(), nil
}

// Chat answers the conversation msgs with the model through /api/chat, which renders it with the model's
// template (ChatTemplate.Render shows the text). The options are Generate's; Raw and System are ignored.
// The result's Text is the assistant's message content.
func (c *Client) Chat(ctx context.Context, model string, msgs []ollamaapi.Message, g GenerateOptions) (Generation, error) {
	opts := c.requestOptions(g)
	stream := false
	req := &ollamaapi.ChatRequest{Model: model, Messages: msgs, Stream: &stream, KeepAlive: c.keepAlive(), Options: opts}
	var last ollamaapi.ChatResponse
	var got bool
	err := c.api.Chat(ctx, req, func(r ollamaapi.ChatResponse) error {
		last, got = r, true
		return nil
	})
	if err != nil {
		return Generation{}, c.wrap(ctx, "chat", model, err)
	}
	if !got || !last.Done {
		return Generation{}, c.wrap(ctx, "chat", model, errors.New("response ended before the answer was done"))
	}
	return Generation{
		Text:            last.Message.Content,
		PromptEvalCount: last.PromptEvalCount,
		EvalCount:       last.EvalCount,
		DoneReason:      last.DoneReason,
		Duration:        last.TotalDuration,
	}, nil
}
