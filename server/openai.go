package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// openaiRequest holds the fields of an OpenAI chat completion request that the server reads; the others are
// accepted and ignored for tasks (answers are greedy), and passed on unchanged for other models.
type openaiRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Stream              bool            `json:"stream"`
	MaxTokens           int             `json:"max_tokens"`
	MaxCompletionTokens int             `json:"max_completion_tokens"`
	Stop                json.RawMessage `json:"stop"`
}

// text is a message's content: a string, or the text parts of a list of parts.
func contentText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New(`a message's "content" must be a string or a list of parts`)
	}
	var texts []string
	for _, p := range parts {
		if p.Type == "text" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, "\n"), nil
}

// stops reads "stop": a string or a list of strings.
func (q openaiRequest) stops() ([]string, error) {
	if len(q.Stop) == 0 || string(q.Stop) == "null" {
		return nil, nil
	}
	var one string
	if json.Unmarshal(q.Stop, &one) == nil {
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(q.Stop, &list); err != nil {
		return nil, errors.New(`"stop" must be a string or a list of strings`)
	}
	return list, nil
}

type openaiMessage struct {
	Role    string `json:"role,omitempty"`
	Content string `json:"content,omitempty"`
}

type openaiChoice struct {
	Index        int            `json:"index"`
	Message      *openaiMessage `json:"message,omitempty"`
	Delta        *openaiMessage `json:"delta,omitempty"`
	FinishReason *string        `json:"finish_reason"`
}

type openaiUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// openaiCompletion is a chat completion or one chunk of a streamed one.
type openaiCompletion struct {
	ID                string         `json:"id"`
	Object            string         `json:"object"`
	Created           int64          `json:"created"`
	Model             string         `json:"model"`
	SystemFingerprint string         `json:"system_fingerprint"`
	Choices           []openaiChoice `json:"choices"`
	Usage             *openaiUsage   `json:"usage,omitempty"`
	FastslowID        string         `json:"fastslow_id"`
}

// openaiChat serves POST /v1/chat/completions.
func (s *Server) openaiChat(w http.ResponseWriter, r *http.Request) {
	var req openaiRequest
	task, ok := s.taskRequest(w, r, &req, func() string { return req.Model })
	if !ok {
		return
	}
	var texts []string
	for _, m := range req.Messages {
		t, err := contentText(m.Content)
		if err != nil {
			writeError(w, r, http.StatusBadRequest, err.Error())
			return
		}
		texts = append(texts, t)
	}
	stops, err := req.stops()
	if err != nil {
		writeError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	n := req.MaxCompletionTokens
	if n <= 0 {
		n = req.MaxTokens
	}
	stop := "stop"
	if req.Stream {
		mk := func(id string, created int64, c openaiChoice) openaiCompletion {
			return openaiCompletion{ID: id, Object: "chat.completion.chunk", Created: created, Model: req.Model, SystemFingerprint: "fastslow", Choices: []openaiChoice{c}, FastslowID: id}
		}
		created := time.Now().Unix()
		s.stream(w, r, req.Model, task, joinText(texts...), n, stops, streamFormat{
			contentType: "text/event-stream", write: writeEvent,
			chunk: func(id, text string, first bool) any {
				d := &openaiMessage{Content: text}
				if first {
					d.Role = "assistant"
				}
				return mk(id, created, openaiChoice{Delta: d})
			},
			last: func(id string, first bool) any {
				d := &openaiMessage{}
				if first {
					d.Role = "assistant"
				}
				return mk(id, created, openaiChoice{Delta: d, FinishReason: &stop})
			},
			failure: func(err error) any {
				return map[string]any{"error": map[string]any{"message": err.Error(), "type": "api_error", "param": nil, "code": nil}}
			},
			end: func(w io.Writer) { fmt.Fprint(w, "data: [DONE]\n\n") },
		})
		return
	}
	a, err := s.ask(r.Context(), req.Model, task, joinText(texts...), n, stops, "", nil)
	if err != nil {
		answerError(w, r, err)
		return
	}
	w.Header().Set(IDHeader, a.ID)
	writeJSON(w, http.StatusOK, openaiCompletion{
		ID: a.ID, Object: "chat.completion", Created: a.Created.Unix(), Model: req.Model, SystemFingerprint: "fastslow",
		Choices: []openaiChoice{{Message: &openaiMessage{Role: "assistant", Content: a.Output}, FinishReason: &stop}},
		Usage:   &openaiUsage{}, FastslowID: a.ID,
	})
}

// writeEvent writes v as one server-sent event.
func writeEvent(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "data: %s\n\n", b)
	return err
}

// openaiModel is one entry of GET /v1/models.
type openaiModel struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// openaiModels serves GET /v1/models: the real Ollama's models, then one "fastslow/TASK" per task.
func (s *Server) openaiModels(w http.ResponseWriter, r *http.Request) {
	list, tasks, ok := s.models(w, r)
	if !ok {
		return
	}
	data := []openaiModel{}
	for _, m := range list.Models {
		data = append(data, openaiModel{ID: m.Name, Object: "model", Created: m.ModifiedAt.Unix(), OwnedBy: "library"})
	}
	for _, t := range tasks {
		data = append(data, openaiModel{ID: TaskPrefix + t.Name, Object: "model", Created: t.Created.Unix(), OwnedBy: "fastslow"})
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}
