package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/prompts"
)

// Answer is one answer the server gave for a task, kept so that feedback can name it by ID.
type Answer struct {
	ID      string    `json:"id"`
	Task    string    `json:"task"`
	Model   string    `json:"model"` // the model name the client asked for
	Input   string    `json:"input"`
	Output  string    `json:"output"`
	Created time.Time `json:"created"`
}

// maxAnswerBytes bounds the text the kept answers hold together, whatever their number.
const maxAnswerBytes = 64 << 20

// answers keeps the most recent answers by id, oldest evicted first, at most max of them and
// maxAnswerBytes of text.
type answers struct {
	mu    sync.Mutex
	max   int
	bytes int
	byID  map[string]Answer
	order []string // ids, oldest first
}

func newAnswers(max int) *answers { return &answers{max: max, byID: map[string]Answer{}} }

func size(x Answer) int { return len(x.Input) + len(x.Output) + len(x.Model) + len(x.Task) }

func (a *answers) add(x Answer) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.byID[x.ID] = x
	a.order = append(a.order, x.ID)
	a.bytes += size(x)
	drop := 0
	for len(a.order)-drop > a.max || a.bytes > maxAnswerBytes && len(a.order)-drop > 1 {
		id := a.order[drop]
		a.bytes -= size(a.byID[id])
		delete(a.byID, id)
		drop++
	}
	a.order = append(a.order[:0], a.order[drop:]...)
}

func (a *answers) get(id string) (Answer, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	x, ok := a.byID[id]
	return x, ok
}

// Answers returns the answers that can still receive feedback, newest first.
func (s *Server) Answers() []Answer {
	a := s.answers
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Answer, 0, len(a.order))
	for i := len(a.order) - 1; i >= 0; i-- {
		out = append(out, a.byID[a.order[i]])
	}
	return out
}

// listAnswers serves GET /fastslow/answers[?task=T][&limit=N]: the recent answers that can take feedback,
// newest first (20 unless limit says), for clients that do not show an answer's id, like the ollama CLI.
func (s *Server) listAnswers(w http.ResponseWriter, r *http.Request) {
	limit := 20
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, r, http.StatusBadRequest, "limit must be a positive integer")
			return
		}
		limit = n
	}
	task := r.URL.Query().Get("task")
	out := []Answer{}
	for _, a := range s.Answers() {
		if len(out) == limit {
			break
		}
		if task == "" || a.Task == task {
			out = append(out, a)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"answers": out})
}

// newID returns a fresh answer id.
func newID() string {
	var b [9]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return "fs-" + hex.EncodeToString(b[:])
}

// taskOf says whether model names a task, and which: "fastslow/TASK" always does, a bare "TASK" when the
// taskRequest reads r's body into req and finds the task the model named by model() serves. A bad body is
// answered with its error and a model that is no task is passed on to Ollama unchanged: in both cases ok is
// false and the handler is done.
func (s *Server) taskRequest(w http.ResponseWriter, r *http.Request, req any, model func() string) (task string, ok bool) {
	body, err := readBody(r, req)
	if err != nil {
		code, msg := bodyError(err)
		writeError(w, r, code, msg)
		return "", false
	}
	task, ok, err = s.taskOf(r.Context(), model())
	if err != nil {
		taskError(w, r, err)
		return "", false
	}
	if !ok {
		s.forward(w, r, body)
	}
	return task, ok
}

// learner has that task. A ":latest" tag is ignored.
func (s *Server) taskOf(ctx context.Context, model string) (string, bool, error) {
	name := strings.TrimSuffix(model, ":latest")
	if t, ok := strings.CutPrefix(name, TaskPrefix); ok {
		if err := prompts.ValidTaskName(t); err != nil {
			return "", false, fmt.Errorf("%w: model %q: %v", errBadModel, model, err)
		}
		return t, true, nil
	}
	if name == "" || strings.ContainsAny(name, "/:") {
		return "", false, nil
	}
	tasks, err := s.cfg.Learner.Store().Tasks(ctx)
	if err != nil {
		return "", false, err
	}
	for _, t := range tasks {
		if t.Name == name {
			return name, true, nil
		}
	}
	return "", false, nil
}

// ask answers input for task through the learner, at most maxTokens new tokens (0: the learner's default),
// cut at the first stop string, and keeps the answer for feedback under id ("" for a new one). With onText
// and no stop strings the text is passed to onText as it is generated (Learner.AnswerStream). Leading white
// space of the input is dropped: the v0.6.5 ollama CLI puts a space before a prompt given as an argument when
// its standard input is not a terminal.
func (s *Server) ask(ctx context.Context, model, task, input string, maxTokens int, stops []string, id string, onText func(string) error) (Answer, error) {
	input = strings.TrimLeft(input, " \t\r\n")
	if input == "" {
		return Answer{}, errEmptyInput
	}
	if maxTokens <= 0 {
		maxTokens = s.cfg.Learner.Options().MaxNewTokens
	}
	var out string
	var err error
	if onText != nil && len(stops) == 0 {
		out, err = s.cfg.Learner.AnswerStream(ctx, task, input, maxTokens, onText)
	} else {
		out, err = s.cfg.Learner.AnswerN(ctx, task, input, maxTokens)
	}
	if err != nil {
		return Answer{}, err
	}
	for _, stop := range stops {
		if i := strings.Index(out, stop); stop != "" && i >= 0 {
			out = out[:i]
		}
	}
	if id == "" {
		id = newID()
	}
	a := Answer{ID: id, Task: task, Model: model, Input: input, Output: out, Created: time.Now().UTC()}
	s.answers.add(a)
	return a, nil
}

// stream answers a streaming request: the id header, then the chunks chunk makes of the text as it is
// generated (the whole answer as one chunk when stop strings must be applied first), then the closing
// chunk. An error before anything was sent is an HTTP error; after, it is sent as a chunk of its own.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, model, task, input string, maxTokens int, stops []string, f streamFormat) {
	id := newID()
	w.Header().Set(IDHeader, id)
	rc := http.NewResponseController(w)
	started := false
	send := func(v any) error {
		if !started {
			started = true
			w.Header().Set("Content-Type", f.contentType)
			w.Header().Set("Cache-Control", "no-cache")
			w.WriteHeader(http.StatusOK)
		}
		if err := f.write(w, v); err != nil {
			return err
		}
		if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		return nil
	}
	first := true
	onText := func(text string) error {
		err := send(f.chunk(id, text, first))
		first = false
		return err
	}
	a, err := s.ask(r.Context(), model, task, input, maxTokens, stops, id, onText)
	if err != nil {
		if !started {
			answerError(w, r, err)
			return
		}
		_ = send(f.failure(err))
		return
	}
	if first && a.Output != "" { // nothing streamed: stop strings were applied to the whole answer
		_ = onText(a.Output)
	}
	_ = send(f.last(id, first))
	if f.end != nil {
		f.end(w)
		_ = rc.Flush()
	}
}

// streamFormat is how one API streams an answer.
type streamFormat struct {
	contentType string
	write       func(w io.Writer, v any) error
	// chunk carries text (first: the answer's first chunk); last closes the answer (first: no text was sent).
	chunk   func(id, text string, first bool) any
	last    func(id string, first bool) any
	failure func(err error) any
	end     func(w io.Writer) // written after the last chunk, if set
}

var (
	errEmptyInput = errors.New("no input text: the prompt (or the messages' content) is empty")
	errBadModel   = errors.New("not a task name")
)

// taskError writes an error of taskOf: 400 for a fastslow/ name that is no task name, else 500.
func taskError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errBadModel) {
		writeError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	writeError(w, r, http.StatusInternalServerError, err.Error())
}

// answerError writes the error of ask: a bad request, an unreachable Ollama, or a failure.
func answerError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, errEmptyInput):
		writeError(w, r, http.StatusBadRequest, err.Error())
	case errors.Is(err, ollama.ErrUnreachable):
		writeError(w, r, http.StatusBadGateway, err.Error())
	case r.Context().Err() != nil:
		// The client went away; nobody reads this.
	default:
		writeError(w, r, http.StatusInternalServerError, err.Error())
	}
}

// feedbackRequest is the body of POST /fastslow/feedback.
type feedbackRequest struct {
	ID       string   `json:"id"`
	Score    *float64 `json:"score"`
	Feedback string   `json:"feedback"`
	Answer   string   `json:"answer"`
}

// FeedbackResponse is what POST /fastslow/feedback returns.
type FeedbackResponse struct {
	// ID is the answer's id, Record the id of the feedback record in the learner's prompt store.
	ID     string `json:"id"`
	Record uint64 `json:"record"`
	Task   string `json:"task"`
	// Pending is how many of the task's corrections wait for a weight round.
	Pending int `json:"pending"`
}

// feedback records feedback on an earlier answer: POST /fastslow/feedback {id, score, feedback?, answer?}.
func (s *Server) feedback(w http.ResponseWriter, r *http.Request) {
	var req feedbackRequest
	if err := decodeStrict(r.Body, &req); err != nil {
		code, msg := bodyError(err)
		writeError(w, r, code, msg)
		return
	}
	if req.ID == "" || req.Score == nil {
		writeError(w, r, http.StatusBadRequest, `feedback needs "id" (an answer's fastslow_id) and "score" (0 to 1)`)
		return
	}
	a, ok := s.answers.get(req.ID)
	if !ok {
		writeError(w, r, http.StatusNotFound, "no answer with id "+req.ID+" (unknown, or older than the answers kept)")
		return
	}
	if *req.Score < 0 || *req.Score > 1 {
		writeError(w, r, http.StatusBadRequest, "score must be between 0 and 1")
		return
	}
	rec, err := s.cfg.Learner.Feedback(r.Context(), fastslow.Correction{
		Task: a.Task, Input: a.Input, Output: a.Output, Score: *req.Score, Critique: req.Feedback, Answer: req.Answer,
	})
	if err != nil {
		writeError(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, FeedbackResponse{ID: a.ID, Record: rec, Task: a.Task, Pending: s.cfg.Learner.Pending(a.Task)})
}

// decodeStrict decodes one JSON value with no unknown fields and nothing after it.
func decodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON value")
	}
	return nil
}

// readBody reads a whole request body (already size-limited) and checks that it is one JSON value, decoded
// into v leniently (clients send fields we do not use).
func readBody(r *http.Request, v any) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return nil, err
	}
	return body, nil
}
