package fastslow

import (
	"context"
	"errors"
	"fmt"
	"reflect"
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

// LLM returns the langchaingo model serving task through l.
func (l *Learner) LLM(task string) *LLM { return NewLLM(l, task) }

// GenerateContent implements llms.Model. The messages' text parts are joined into one prompt (system and
// earlier turns first). Of the call options, MaxTokens, StopWords, StreamingFunc (called once, with the whole
// answer) and a Temperature of 0 (answers are greedy) are honoured; any other option set is refused with an
// error naming it, never silently dropped.
func (m *LLM) GenerateContent(ctx context.Context, messages []llms.MessageContent, options ...llms.CallOption) (*llms.ContentResponse, error) {
	if m.Learner == nil {
		return nil, errors.New("fastslow llm: no learner")
	}
	var opts llms.CallOptions
	for _, o := range options {
		o(&opts)
	}
	if err := unsupported(opts); err != nil {
		return nil, err
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

// unsupported names the call options set that the learner cannot honour.
func unsupported(o llms.CallOptions) error {
	o.MaxTokens, o.StopWords, o.StreamingFunc = 0, nil, nil // honoured; a Temperature other than 0 is not
	v := reflect.ValueOf(o)
	var names []string
	for i := range v.NumField() {
		if !v.Field(i).IsZero() {
			names = append(names, v.Type().Field(i).Name)
		}
	}
	if len(names) > 0 {
		return fmt.Errorf("fastslow llm: call options %s are not supported (answers are greedy; supported: MaxTokens, StopWords, StreamingFunc, Temperature 0)", strings.Join(names, ", "))
	}
	return nil
}

// Call implements llms.Model.
func (m *LLM) Call(ctx context.Context, prompt string, options ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, m, prompt, options...)
}

// Feedback tells the learner how an answer of this task fared (see Learner.Feedback); c.Task is set to the
// model's task. It returns the id of the stored record.
func (m *LLM) Feedback(ctx context.Context, c Correction) (uint64, error) {
	if c.Task != "" && c.Task != m.Task {
		return 0, fmt.Errorf("fastslow llm: a correction for task %q given to the model of task %q", c.Task, m.Task)
	}
	c.Task = m.Task
	return m.Learner.Feedback(ctx, c)
}
