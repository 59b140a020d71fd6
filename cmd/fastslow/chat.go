package main

import (
	"context"
	"fmt"

	ollamaapi "github.com/ollama/ollama/api"
	"github.com/spf13/cobra"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/eval/world"
	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/internal/config"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/train"
)

// Chat data: JSONL lines {"messages":[{"role","content"},...]} are rendered with the model's chat template as
// Ollama renders them for /api/chat (adapters/ollama.ChatTemplate, which runs Ollama's template package).
// The template is the one Ollama stores for the configured model when that is an Ollama model name, else
// the one Ollama derives from the GGUF's tokenizer.chat_template; a GGUF whose template Ollama does not
// recognize cannot be trained on chat data.

// chatTemplate returns the chat template of the configured model, whose GGUF is at path.
func chatTemplate(ctx context.Context, l *config.Loaded, path string) (*ollama.ChatTemplate, error) {
	if l.Model != "" && !fastslow.IsPath(l.Model) {
		c, err := client(l)
		if err != nil {
			return nil, err
		}
		return c.ChatTemplate(ctx, l.Model)
	}
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	jinja, _ := f.Meta.String("tokenizer.chat_template")
	t, err := ollama.GGUFChatTemplate(jinja)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", path, err)
	}
	return t, nil
}

// renderer adapts a chat template to the training data builder.
func renderer(t *ollama.ChatTemplate) train.Render {
	return func(msgs []train.Message) (string, error) {
		am := make([]ollamaapi.Message, len(msgs))
		for i, m := range msgs {
			am[i] = ollamaapi.Message{Role: m.Role, Content: m.Content}
		}
		return t.Render(am)
	}
}

func messages(e world.Example) []train.Message {
	out := make([]train.Message, len(e.Messages))
	for i, m := range e.Messages {
		out[i] = train.Message{Role: m.Role, Content: m.Content}
	}
	return out
}

func hasChat(ex []world.Example) bool {
	for _, e := range ex {
		if len(e.Messages) > 0 {
			return true
		}
	}
	return false
}

// trainSequences builds the training sequences of examples read from the file data: prompt/completion
// examples as weights.Sequences does, chat examples by the model's template with the loss on assistant turns
// only (weights.ChatSequences). An example that cannot be used is named by file and line.
func trainSequences(ctx context.Context, l *config.Loaded, m *weights.Model, path, data string, ex []world.Example) ([]llama.Sequence, error) {
	var render train.Render
	if hasChat(ex) {
		t, err := chatTemplate(ctx, l, path)
		if err != nil {
			return nil, fmt.Errorf("%s has chat examples: %w", data, err)
		}
		render = renderer(t)
	}
	var seqs []llama.Sequence
	for _, e := range ex {
		var s []llama.Sequence
		var err error
		if len(e.Messages) > 0 {
			s, err = train.ChatSequences(m.Tokenizer, m.EOG, render, messages(e), m.Config.ContextLength)
		} else {
			var seq llama.Sequence
			seq, err = train.SFTSequence(m.Tokenizer, e.Prompt, e.Completion, m.Config.ContextLength)
			s = []llama.Sequence{seq}
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", data, e.Line, err)
		}
		seqs = append(seqs, s...)
	}
	return seqs, nil
}

// renderChat turns every chat example of ex (read from the file data) into one prompt/completion example per
// assistant turn, as Ollama's /api/chat would prompt the model for it with the model's template: the prompt
// is the rendering of the turns before it, the completion the turn's content, which is also the answer (the
// line's "answer", if given, for its last turn). Prompt/completion examples are kept as they are. An example
// that cannot be rendered is named by file and line.
func renderChat(ctx context.Context, l *config.Loaded, path, data string, ex []world.Example) ([]world.Example, error) {
	if !hasChat(ex) {
		return ex, nil
	}
	t, err := chatTemplate(ctx, l, path)
	if err != nil {
		return nil, fmt.Errorf("%s has chat examples: %w", data, err)
	}
	render := renderer(t)
	var out []world.Example
	for _, e := range ex {
		if len(e.Messages) == 0 {
			out = append(out, e)
			continue
		}
		msgs := messages(e)
		if err := train.CheckConversation(msgs); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", data, e.Line, err)
		}
		last := len(msgs) - 1
		for msgs[last].Role != "assistant" || msgs[last].Content == "" {
			last--
		}
		for k, m := range msgs {
			if m.Role != "assistant" || m.Content == "" {
				continue
			}
			p, err := render(msgs[:k])
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", data, e.Line, err)
			}
			answer := m.Content
			if k == last && e.Answer != "" {
				answer = e.Answer
			}
			out = append(out, world.Example{Prompt: p, Completion: m.Content, Answer: answer, Task: e.Task, Line: e.Line})
		}
	}
	return out, nil
}

// renderChatFor is renderChat for the configured model (the embedded default when none is).
func renderChatFor(cmd *cobra.Command, data string, ex []world.Example) ([]world.Example, error) {
	if !hasChat(ex) {
		return ex, nil
	}
	l, err := conf(cmd)
	if err != nil {
		return nil, err
	}
	path, _, err := labModel(cmd.Context(), l)
	if err != nil {
		return nil, err
	}
	return renderChat(cmd.Context(), l, path, data, ex)
}
