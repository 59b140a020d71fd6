package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	ollamaapi "github.com/ollama/ollama/api"
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
	body, err := readBody(r, &req)
	if err != nil {
		code, msg := bodyError(err)
		writeError(w, r, code, msg)
		return
	}
	task, ok, err := s.taskOf(r.Context(), req.Model)
	if err != nil {
		taskError(w, r, err)
		return
	}
	if !ok {
		s.forward(w, r, body)
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
	a, err := s.ask(r.Context(), req.Model, task, joinText(texts...), n, stops)
	if err != nil {
		answerError(w, r, err)
		return
	}
	w.Header().Set(IDHeader, a.ID)
	stop := "stop"
	c := openaiCompletion{ID: a.ID, Created: a.Created.Unix(), Model: req.Model, SystemFingerprint: "fastslow", FastslowID: a.ID}
	if !req.Stream {
		c.Object = "chat.completion"
		c.Choices = []openaiChoice{{Message: &openaiMessage{Role: "assistant", Content: a.Output}, FinishReason: &stop}}
		c.Usage = &openaiUsage{}
		writeJSON(w, http.StatusOK, c)
		return
	}
	c.Object = "chat.completion.chunk"
	part, last := c, c
	part.Choices = []openaiChoice{{Delta: &openaiMessage{Role: "assistant", Content: a.Output}}}
	last.Choices = []openaiChoice{{Delta: &openaiMessage{}, FinishReason: &stop}}
	writeSSE(w, part, last)
}

// writeSSE streams objects as server-sent events, then "data: [DONE]", flushing after each.
func writeSSE(w http.ResponseWriter, objs ...any) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	for _, o := range objs {
		b, err := json.Marshal(o)
		if err != nil {
			return
		}
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return
		}
		_ = rc.Flush()
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	_ = rc.Flush()
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
	var list ollamaapi.ListResponse
	if s.proxy != nil {
		if err := s.upstreamJSON(r, "/api/tags", &list); err != nil {
			writeError(w, r, http.StatusBadGateway, err.Error())
			return
		}
	}
	tasks, err := s.cfg.Learner.Store().Tasks(r.Context())
	if err != nil {
		writeError(w, r, http.StatusInternalServerError, err.Error())
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
