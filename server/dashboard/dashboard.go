// Package dashboard shows a person what a fastslow learner has learned: its tasks, each task's prompt versions
// with the diffs between them and the evidence each promotion rested on, the adapter and merged-model lineage
// with the retention and forgetting of every version, the corrections waiting for a weight round, and the
// forgetting lab's reports. Prompt and adapter versions can be rolled back from the pages.
//
// The pages are rendered on the server with html/template (every string read from the store or a report is
// escaped); there is no script. Templates and the style sheet are embedded in the binary.
//
// Nothing changes state except a POST, and every POST must come from the dashboard's own pages: it needs the
// form token the pages carry (a per-handler secret), an Origin or Referer of the same host when the browser sends
// one, a confirmation, and the server's token (Authorization: Bearer) or its login session when one is set. Without a server token,
// requests must name a loopback host (a DNS-rebinding guard for a server bound to loopback).
package dashboard

import (
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/server/internal/session"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Options configure a dashboard. Learner is required.
type Options struct {
	// Learner is the learner shown; its prompt store and slow channel are read live and rolled back through
	// the library (prompts.Store.Rollback, fastslow.SlowChannel.Rollback).
	Learner *fastslow.Learner
	// Reports is a directory of lab reports: a report.md with its PNGs in the directory itself or in any of its
	// subdirectories (one level down, as `fastslow lab` subcommands write them). Empty: no reports page entries.
	Reports string
	// Token is the server's access token, if it has one. POSTs must then carry it ("Authorization: Bearer …",
	// as the server requires on every route) or the login session a browser gets from the server's login form
	// (server.LoginPath), and the loopback host check is off. The pages then offer a logout.
	Token string
	// Base is the path the handler is mounted at, with a trailing slash ("/" by default). The handler expects
	// request paths with Base already stripped to "/" (http.StripPrefix) when Base is not "/".
	Base string
	// Log receives errors that are not the client's; nil discards them.
	Log *slog.Logger
}

// Handler serves the dashboard. Create it with New.
type Handler struct {
	opt  Options
	mux  *http.ServeMux
	tmpl map[string]*template.Template
	csrf string // the form token every POST must carry
	// sessions checks the server's login sessions (the cookie a browser gets by posting the token to the
	// server's login form), nil without a token.
	sessions *session.Keeper
}

// New returns a dashboard for o.Learner.
func New(o Options) (*Handler, error) {
	if o.Learner == nil {
		return nil, errors.New("dashboard: no learner")
	}
	if o.Base == "" {
		o.Base = "/"
	}
	if !strings.HasPrefix(o.Base, "/") || !strings.HasSuffix(o.Base, "/") {
		return nil, fmt.Errorf("dashboard: base %q must start and end with /", o.Base)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	h := &Handler{opt: o, csrf: hex.EncodeToString(b[:]), tmpl: map[string]*template.Template{}}
	if o.Token != "" {
		var err error
		if h.sessions, err = session.New(o.Token); err != nil {
			return nil, fmt.Errorf("dashboard: %w", err)
		}
	}
	if err := h.parse(); err != nil {
		return nil, err
	}
	static, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", h.tasks)
	m.HandleFunc("GET /tasks/{task}", h.task)
	m.HandleFunc("POST /tasks/{task}/rollback", h.rollbackPrompt)
	m.HandleFunc("GET /adapters", h.adapters)
	m.HandleFunc("POST /adapters/rollback", h.rollbackAdapter)
	m.HandleFunc("GET /feedback", h.feedback)
	m.HandleFunc("GET /reports", h.reports)
	m.HandleFunc("GET /reports/{report}/{$}", h.report)
	m.HandleFunc("GET /reports/{report}/{file}", h.reportFile)
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	h.mux = m
	return h, nil
}

// pages are the templates, each parsed with the layout.
var pages = []string{"tasks", "task", "adapters", "feedback", "reports", "report", "confirm", "error"}

func (h *Handler) parse() error {
	funcs := template.FuncMap{
		"base": func() string { return h.opt.Base },
		"pct":  func(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) },
		"num":  func(x float64) string { return fmt.Sprintf("%.4g", x) },
		"signed": func(x float64) string {
			return fmt.Sprintf("%+.4g", x)
		},
	}
	for _, p := range pages {
		t, err := template.New(p).Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+p+".html")
		if err != nil {
			return fmt.Errorf("dashboard: template %s: %w", p, err)
		}
		h.tmpl[p] = t
	}
	return nil
}

// ServeHTTP serves the dashboard's pages, checking the request's host, and for a POST its origin and tokens.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'none'; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("Referrer-Policy", "same-origin")
	if h.opt.Token == "" && !loopbackHost(r.Host) {
		h.fail(w, r, http.StatusForbidden, fmt.Errorf("host %q is not a loopback name; the dashboard without a token answers only requests to localhost or a loopback address", r.Host))
		return
	}
	if r.Method == http.MethodPost {
		if err := h.checkPost(r); err != nil {
			h.fail(w, r, http.StatusForbidden, err)
			return
		}
	}
	h.mux.ServeHTTP(w, r)
}

// maxForm bounds a POST body: the dashboard's forms carry a few short fields.
const maxForm = 8 << 10

// checkPost refuses a POST that did not come from the dashboard's own pages.
func (h *Handler) checkPost(r *http.Request) error {
	if err := session.SameOrigin(r); err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		return fmt.Errorf("reading the form: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(h.csrf)) != 1 {
		return errors.New("the form token is missing or stale: reload the page and try again")
	}
	if h.opt.Token != "" && !h.hasToken(r) {
		return errors.New("the server's token is missing or wrong")
	}
	return nil
}

// hasToken reports whether r carries the server's token, or a login session made with it.
func (h *Handler) hasToken(r *http.Request) bool {
	if got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && h.sessions.CheckToken(got) {
		return true
	}
	return h.sessions.Valid(r)
}

// loopbackHost reports whether a Host header names this machine's loopback interface.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// page is what every template gets: the page's own data and the form tokens.
type page struct {
	Title  string
	Nav    string
	CSRF   string
	Logout bool // a token is set: offer a logout (the server's /fastslow/logout)
	Data   any
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) {
	p := page{Title: title, Nav: name, CSRF: h.csrf, Logout: h.opt.Token != "", Data: data}
	var b strings.Builder
	if err := h.tmpl[name].ExecuteTemplate(&b, "layout", p); err != nil {
		h.opt.Log.Error("dashboard: render", "page", name, "err", err)
		http.Error(w, "dashboard: rendering failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// fail renders an error page.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, err error) {
	if status >= 500 {
		h.opt.Log.Error("dashboard", "path", r.URL.Path, "err", err)
	}
	h.render(w, r, status, "error", http.StatusText(status), err.Error())
}
