package fastslow

import (
	"context"
	"errors"
	"strings"

	"github.com/tmc/langchaingo/llms"
)

// LLM is a langchaingo llms.Model that answers through a Learner: every call is served with the task's
// promoted prompt and the promoted adapter, so what the learner learns from Feedback shows in the next answer.
// Agents built on langchaingo use it like any other model and call Feedback after each answer.
type LLM struct {
	Learner *Learner
	// Task is the task the agent's calls belong to.
	Task string
}

var _ llms.Model = (*LLM)(nil)

// NewLLM returns the model serving task through l.
func NewLLM(l *Learner, task string) *LLM { return &LLM{Learner: l, Task: task} }

// GenerateContent implements llms.Model. The messages' text parts are joined into one prompt (system and
// earlier turns first); MaxTokens and StopWords of the call options are honoured.
func (m *LLM) GenerateContent(ctx context.Context, messages []llms.MessageContent, options ...llms.CallOption) (*llms.ContentResponse, error) {
	if m.Learner == nil {
		return nil, errors.New("fastslow llm: no learner")
	}
	var opts llms.CallOptions
	for _, o := range options {
		o(&opts)
	}
	var parts []string
	for _, msg := range messages {
		for _, p := range msg.Parts {
			if t, ok := p.(llms.TextContent); ok {
				parts = append(parts, t.Text)
			}
		}
	}
	if len(parts) == 0 {
		return nil, errors.New("fastslow llm: no text in the messages")
	}
	maxTokens := m.Learner.cfg.MaxNewTokens
	if opts.MaxTokens > 0 {
		maxTokens = opts.MaxTokens
	}
	out, err := m.Learner.AnswerN(ctx, m.Task, strings.Join(parts, "\n\n"), maxTokens)
	if err != nil {
		return nil, err
	}
	for _, stop := range opts.StopWords {
		if i := strings.Index(out, stop); stop != "" && i >= 0 {
			out = out[:i]
		}
	}
	if opts.StreamingFunc != nil {
		if err := opts.StreamingFunc(ctx, []byte(out)); err != nil {
			return nil, err
		}
	}
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{{Content: out, StopReason: "stop"}}}, nil
}

// Call implements llms.Model.
func (m *LLM) Call(ctx context.Context, prompt string, options ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, m, prompt, options...)
}

// Feedback tells the learner how an answer fared; answer, if not empty, is the right one (see
// Learner.Feedback).
func (m *LLM) Feedback(ctx context.Context, input, output string, score float64, critique, answer string) error {
	return m.Learner.Feedback(ctx, Feedback{Task: m.Task, Input: input, Output: output, Score: score, Text: critique, Answer: answer})
}
