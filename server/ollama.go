package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	ollamaapi "github.com/ollama/ollama/api"
	"github.com/ollama/ollama/types/model"

	"github.com/fastslow/fastslow/prompts"
)

// ollamaRequest holds the fields of Ollama's generate, chat and show requests that the server reads; the
// others (format, keep_alive, context, think, ...) are accepted and ignored for tasks, and passed on
// unchanged for other models.
type ollamaRequest struct {
	Model    string          `json:"model"`
	Name     string          `json:"name"` // show's older spelling of model
	Prompt   string          `json:"prompt"`
	System   string          `json:"system"`
	Messages []ollamaMessage `json:"messages"`
	Stream   *bool           `json:"stream"`
	Options  map[string]any  `json:"options"`
}

type ollamaMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// generateChunk is one object of /api/generate's answer for a task (the whole answer when not streaming).
type generateChunk struct {
	Model      string    `json:"model"`
	CreatedAt  time.Time `json:"created_at"`
	Response   string    `json:"response"`
	Done       bool      `json:"done"`
	DoneReason string    `json:"done_reason,omitempty"`
	FastslowID string    `json:"fastslow_id,omitempty"`
}

// chatChunk is one object of /api/chat's answer for a task.
type chatChunk struct {
	Model      string        `json:"model"`
	CreatedAt  time.Time     `json:"created_at"`
	Message    ollamaMessage `json:"message"`
	Done       bool          `json:"done"`
	DoneReason string        `json:"done_reason,omitempty"`
	FastslowID string        `json:"fastslow_id,omitempty"`
}

// numPredict and stops read the request options the learner honours: num_predict and stop. Answers are
// greedy whatever the sampling options say.
func (q ollamaRequest) numPredict() int {
	if f, ok := q.Options["num_predict"].(float64); ok && f > 0 {
		return int(min(f, 1<<20))
	}
	return 0
}

func (q ollamaRequest) stops() []string {
	var out []string
	if list, ok := q.Options["stop"].([]any); ok {
		for _, x := range list {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// streams reports whether the client wants a stream: Ollama streams unless told "stream": false.
func (q ollamaRequest) streams() bool { return q.Stream == nil || *q.Stream }

// joinText joins the non-empty texts with blank lines, as fastslow.LLM joins messages into one input.
func joinText(parts ...string) string {
	var keep []string
	for _, p := range parts {
		if strings.TrimSpace(p) != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, "\n\n")
}

// ollamaGenerate serves POST /api/generate.
func (s *Server) ollamaGenerate(w http.ResponseWriter, r *http.Request) {
	var req ollamaRequest
	task, ok := s.taskRequest(w, r, &req, func() string { return req.Model })
	if !ok {
		return
	}
	now := time.Now().UTC()
	if strings.TrimSpace(req.Prompt) == "" {
		// Ollama's "load the model" request (the CLI sends it before an interactive session).
		writeJSON(w, http.StatusOK, generateChunk{Model: req.Model, CreatedAt: now, Done: true, DoneReason: "load"})
		return
	}
	s.ollamaReply(w, r, &req, task, joinText(req.System, req.Prompt),
		func(id, text string) any {
			return generateChunk{Model: req.Model, CreatedAt: time.Now().UTC(), Response: text, FastslowID: id}
		},
		func(id string) any {
			return generateChunk{Model: req.Model, CreatedAt: time.Now().UTC(), Done: true, DoneReason: "stop", FastslowID: id}
		},
		func(a Answer) any {
			return generateChunk{Model: req.Model, CreatedAt: now, Response: a.Output, Done: true, DoneReason: "stop", FastslowID: a.ID}
		})
}

// ollamaChat serves POST /api/chat.
func (s *Server) ollamaChat(w http.ResponseWriter, r *http.Request) {
	var req ollamaRequest
	task, ok := s.taskRequest(w, r, &req, func() string { return req.Model })
	if !ok {
		return
	}
	now := time.Now().UTC()
	var texts []string
	for _, m := range req.Messages {
		texts = append(texts, m.Content)
	}
	input := joinText(texts...)
	if len(req.Messages) == 0 {
		writeJSON(w, http.StatusOK, chatChunk{Model: req.Model, CreatedAt: now, Message: ollamaMessage{Role: "assistant"}, Done: true, DoneReason: "load"})
		return
	}
	s.ollamaReply(w, r, &req, task, input,
		func(id, text string) any {
			return chatChunk{Model: req.Model, CreatedAt: time.Now().UTC(), Message: ollamaMessage{Role: "assistant", Content: text}, FastslowID: id}
		},
		func(id string) any {
			return chatChunk{Model: req.Model, CreatedAt: time.Now().UTC(), Message: ollamaMessage{Role: "assistant"}, Done: true, DoneReason: "stop", FastslowID: id}
		},
		func(a Answer) any {
			return chatChunk{Model: req.Model, CreatedAt: now, Message: ollamaMessage{Role: "assistant", Content: a.Output}, Done: true, DoneReason: "stop", FastslowID: a.ID}
		})
}

// ollamaReply answers an Ollama request for task with the learner's answer to input: when the request
// streams, as NDJSON lines, chunk's for each piece of text and then last's; else as the one value whole makes
// of the answer.
func (s *Server) ollamaReply(w http.ResponseWriter, r *http.Request, req *ollamaRequest, task, input string,
	chunk func(id, text string) any, last func(id string) any, whole func(Answer) any) {
	if req.streams() {
		s.stream(w, r, req.Model, task, input, req.numPredict(), req.stops(), streamFormat{
			contentType: "application/x-ndjson", write: writeLine,
			chunk:   func(id, text string, _ bool) any { return chunk(id, text) },
			last:    func(id string, _ bool) any { return last(id) },
			failure: func(err error) any { return map[string]string{"error": err.Error()} },
		})
		return
	}
	a, err := s.ask(r.Context(), req.Model, task, input, req.numPredict(), req.stops(), "", nil)
	if err != nil {
		answerError(w, r, err)
		return
	}
	w.Header().Set(IDHeader, a.ID)
	writeJSON(w, http.StatusOK, whole(a))
}

// writeLine writes v as one line of JSON.
func writeLine(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }

// ollamaShow serves POST /api/show: a task is described as the model the learner serves it with.
func (s *Server) ollamaShow(w http.ResponseWriter, r *http.Request) {
	var req ollamaRequest
	body, err := readBody(r, &req)
	if err != nil {
		code, msg := bodyError(err)
		writeError(w, r, code, msg)
		return
	}
	name := req.Model
	if name == "" {
		name = req.Name
	}
	task, ok, err := s.taskOf(r.Context(), name)
	if err != nil {
		taskError(w, r, err)
		return
	}
	if !ok {
		s.forward(w, r, body)
		return
	}
	l := s.cfg.Learner
	details := s.details()
	served := l.Slow().Handle()
	if served == "" {
		served = "the base model"
	}
	writeJSON(w, http.StatusOK, ollamaapi.ShowResponse{
		Modelfile: fmt.Sprintf("# fastslow task %q: served with its promoted prompt and %s through %s (policy %s)\n",
			task, served, l.Server().Name(), l.Policy().Name()),
		Template:     "{{ .Prompt }}",
		Details:      details,
		ModelInfo:    s.modelInfo(task),
		Capabilities: []model.Capability{model.CapabilityCompletion},
		ModifiedAt:   s.started,
	})
}

// modelInfo is the base model's GGUF metadata that Ollama clients read (the v0.6.5 CLI's show requires the
// parameter count, context and embedding lengths), and the task.
func (s *Server) modelInfo(task string) map[string]any {
	base := s.cfg.Learner.Options().Base
	arch := base.Config.Architecture()
	return map[string]any{
		"general.architecture":     arch,
		"general.parameter_count":  base.NumParams(),
		arch + ".context_length":   base.Config.ContextLength,
		arch + ".embedding_length": base.Config.Dim,
		"fastslow.task":            task,
	}
}

// details describes the learner's base model as Ollama describes a model.
func (s *Server) details() ollamaapi.ModelDetails {
	base := s.cfg.Learner.Options().Base
	arch := base.Config.Architecture()
	return ollamaapi.ModelDetails{ParentModel: base.Name, Format: "gguf", Family: arch, Families: []string{arch}}
}

// ollamaTags serves GET /api/tags: the real Ollama's models, then one "fastslow/TASK:latest" per task.
func (s *Server) ollamaTags(w http.ResponseWriter, r *http.Request) {
	list, tasks, ok := s.models(w, r)
	if !ok {
		return
	}
	if list.Models == nil {
		list.Models = []ollamaapi.ListModelResponse{}
	}
	for _, t := range tasks {
		name := TaskPrefix + t.Name + ":latest"
		list.Models = append(list.Models, ollamaapi.ListModelResponse{
			Name: name, Model: name, ModifiedAt: t.Created, Digest: s.servedDigest(r.Context(), t.Name), Details: s.details(),
		})
	}
	writeJSON(w, http.StatusOK, list)
}

// models is what both model lists start from: the real Ollama's models (none with no Ollama behind) and
// the learner's tasks. On an error it answers it and returns false.
func (s *Server) models(w http.ResponseWriter, r *http.Request) (ollamaapi.ListResponse, []prompts.Task, bool) {
	var list ollamaapi.ListResponse
	if s.proxy != nil {
		if err := s.upstreamJSON(r, "/api/tags", &list); err != nil {
			writeError(w, r, http.StatusBadGateway, err.Error())
			return list, nil, false
		}
	}
	tasks, err := s.cfg.Learner.Store().Tasks(r.Context())
	if err != nil {
		writeError(w, r, http.StatusInternalServerError, err.Error())
		return list, nil, false
	}
	return list, tasks, true
}

// servedDigest stands for what serves task now — its promoted prompt version and the served model — as a
// digest, which Ollama clients expect of every model (the ollama CLI's list shows its first 12 characters).
func (s *Server) servedDigest(ctx context.Context, task string) string {
	l := s.cfg.Learner
	v, err := l.Store().Current(ctx, task)
	if err != nil {
		v = prompts.Version{} // no promoted version yet
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%s", task, v.Seq, l.Slow().Handle()))
	return hex.EncodeToString(sum[:])
}

// ollamaVersion serves GET /api/version: the real Ollama's version (clients decide what to send by it), or
// "0.0.0" with no Ollama behind.
func (s *Server) ollamaVersion(w http.ResponseWriter, r *http.Request) {
	if s.proxy != nil {
		s.passthrough(w, r)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"version": "0.0.0"})
}
