// Package server serves a fastslow Learner over HTTP in the two dialects local-model clients already speak:
// Ollama's API (/api/chat, /api/generate, /api/tags, /api/show, /api/version) and OpenAI's
// (/v1/chat/completions, /v1/models). A model named after a task — "TASK" for a task the learner has, or
// "fastslow/TASK" for any task — is answered through the learner: the task's promoted prompt (retrieved notes,
// lessons, demos) and the promoted adapter or merged model, on the server the learner serves through. Every
// other model name, and every other /api/ or /v1/ route, passes through unchanged to the real Ollama behind
// (streaming preserved).
//
// Each answer of a task carries an id (header X-Fastslow-Id and JSON field fastslow_id); POST
// /fastslow/feedback {"id", "score", "feedback", "answer"} gives it to Learner.Feedback. Weight rounds run in
// the learner's background on its flush policy; answering never waits for them.
//
// Security: when Config.Token is set every route, the dashboard included, needs "Authorization: Bearer TOKEN"
// (OpenAI clients send their API key that way); Serve refuses a non-loopback listener without a token. A
// person's browser cannot send that header on page loads, so the dashboard's routes also take a login
// session: a browser's page load without credentials gets 401 with a login form as its body, the form posts
// the token to LoginPath once, and the answer sets an HttpOnly, SameSite=Strict cookie (Secure over TLS)
// holding a session value signed with a key derived from the token, not the token; LogoutPath ends it. API
// routes (/api/, /v1/, /fastslow/) never take the cookie.
// Request bodies are limited (Config.MaxBody); malformed JSON is a 400 in the API's own error shape; only
// GET, HEAD and POST reach any handler, and only POST changes state.
package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/server/internal/session"
)

// DefaultMaxBody is the request body limit when Config.MaxBody is zero: 1 MiB.
const DefaultMaxBody = 1 << 20

// DefaultKeepAnswers is how many recent answers keep their id for feedback when Config.KeepAnswers is zero.
const DefaultKeepAnswers = 4096

// TaskPrefix starts a model name that always means a task: "fastslow/TASK".
const TaskPrefix = "fastslow/"

// IDHeader is the response header that carries a task answer's id.
const IDHeader = "X-Fastslow-Id"

// Config configures a Server.
type Config struct {
	// Learner answers the tasks and takes the feedback. Required.
	Learner *fastslow.Learner
	// Ollama is the real Ollama server other model names and routes pass through to; nil means none (those
	// requests get 502).
	Ollama *ollama.Client
	// Token, if set, is required on every route as "Authorization: Bearer TOKEN"; the dashboard's routes also
	// take a login session made with it (LoginPath).
	Token string
	// MaxBody limits request bodies, in bytes (0: DefaultMaxBody).
	MaxBody int64
	// KeepAnswers is how many recent answers can still receive feedback (0: DefaultKeepAnswers).
	KeepAnswers int
	// Dashboard, if set, serves GET / and every path outside /api/, /v1/ and /fastslow/ (behind the same
	// token, method and size checks). HEAD / is answered before it, for the Ollama CLI's heartbeat.
	Dashboard http.Handler
}

// Server is an http.Handler serving a Learner in Ollama's and OpenAI's APIs. Make one with New.
type Server struct {
	cfg     Config
	mux     *http.ServeMux
	proxy   *httputil.ReverseProxy
	upBase  *url.URL
	answers *answers
	started time.Time
	// sessions are the dashboard's browser logins (LoginPath), nil without a token.
	sessions *session.Keeper
	// guesses limits wrong tokens per client address.
	guesses *guesses
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Learner == nil {
		return nil, errors.New("server: no learner")
	}
	if cfg.MaxBody < 0 || cfg.KeepAnswers < 0 {
		return nil, fmt.Errorf("server: negative MaxBody (%d) or KeepAnswers (%d)", cfg.MaxBody, cfg.KeepAnswers)
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.KeepAnswers == 0 {
		cfg.KeepAnswers = DefaultKeepAnswers
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), answers: newAnswers(cfg.KeepAnswers), started: time.Now(), guesses: newGuesses()}
	if cfg.Ollama != nil {
		u, err := url.Parse(cfg.Ollama.Host())
		if err != nil {
			return nil, fmt.Errorf("server: ollama host: %w", err)
		}
		s.upBase = u
		s.proxy = s.newProxy(u)
	}
	var err error
	if s.sessions, err = newSessions(cfg.Token); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s.routes()
	return s, nil
}

// Learner is the learner the server answers with.
func (s *Server) Learner() *fastslow.Learner { return s.cfg.Learner }

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("/{$}", s.root)
	m.HandleFunc("POST /api/generate", s.ollamaGenerate)
	m.HandleFunc("POST /api/chat", s.ollamaChat)
	m.HandleFunc("POST /api/show", s.ollamaShow)
	m.HandleFunc("GET /api/tags", s.ollamaTags)
	m.HandleFunc("GET /api/version", s.ollamaVersion)
	m.HandleFunc("/api/", s.passthrough)
	m.HandleFunc("POST /v1/chat/completions", s.openaiChat)
	m.HandleFunc("GET /v1/models", s.openaiModels)
	m.HandleFunc("/v1/", s.passthrough)
	m.HandleFunc("POST /fastslow/feedback", s.feedback)
	m.HandleFunc("POST "+LogoutPath, s.logout)
	m.HandleFunc("GET /fastslow/answers", s.listAnswers)
	m.HandleFunc("/fastslow/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusNotFound, "no such fastslow route: "+r.URL.Path)
	})
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Dashboard != nil {
			s.cfg.Dashboard.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	})
}

// ServeHTTP implements http.Handler: the token, method and body-size checks, then the routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == LoginPath && s.sessions != nil {
		s.login(w, r) // checks the token itself; 401 until it gets it
		return
	}
	presented := s.cfg.Token != "" && r.Header.Get("Authorization") != ""
	if presented {
		if wait := s.guesses.wait(clientIP(r)); wait > 0 {
			tooManyGuesses(w, r, wait)
			return
		}
	}
	if !s.authorized(r) {
		if presented {
			s.guesses.wrong(clientIP(r))
		}
		s.unauthorized(w, r, "")
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		writeError(w, r, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed here (only GET, HEAD and POST)")
		return
	}
	if r.ContentLength > s.cfg.MaxBody {
		writeError(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body of %d bytes is over the limit of %d", r.ContentLength, s.cfg.MaxBody))
		return
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
	}
	s.mux.ServeHTTP(w, r)
}

// authorized checks the bearer token, when one is configured, or on the dashboard's routes a login session.
func (s *Server) authorized(r *http.Request) bool {
	if s.cfg.Token == "" {
		return true
	}
	if got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && s.sessions.CheckToken(strings.TrimSpace(got)) {
		return true
	}
	return browserRoute(r.URL.Path) && s.sessions.Valid(r)
}

// root answers HEAD / (the Ollama CLI's heartbeat) and GET / (the dashboard, or a line like Ollama's).
func (s *Server) root(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && s.cfg.Dashboard != nil:
		s.cfg.Dashboard.ServeHTTP(w, r)
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			fmt.Fprintln(w, "fastslow is running")
		}
	default:
		writeError(w, r, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed on /")
	}
}

// writeError writes msg in the error shape of the API the path belongs to: OpenAI's under /v1/, else
// Ollama's {"error": msg}.
func writeError(w http.ResponseWriter, r *http.Request, code int, msg string) {
	var body any = map[string]string{"error": msg}
	if strings.HasPrefix(r.URL.Path, "/v1/") {
		typ := "invalid_request_error"
		switch {
		case code == http.StatusUnauthorized:
			typ = "authentication_error"
		case code >= 500:
			typ = "api_error"
		}
		body = map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}}
	}
	writeJSON(w, code, body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// bodyError turns a failure to read or decode a request body into its status and message.
func bodyError(err error) (int, string) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is over the limit of %d bytes", tooBig.Limit)
	}
	return http.StatusBadRequest, "malformed JSON in the request body: " + err.Error()
}
