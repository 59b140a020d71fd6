package server

import (
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/fastslow/fastslow/server/internal/session"
)

// LoginPath takes the token from the dashboard's login form (POST, form field "token"; "next" is the page to
// go on to) and answers with a session cookie; LogoutPath ends that session. Both are for browsers: the
// API routes take only "Authorization: Bearer TOKEN".
const (
	LoginPath  = "/fastslow/login"
	LogoutPath = "/fastslow/logout"
)

// maxLoginForm bounds the login and logout forms.
const maxLoginForm = 8 << 10

// browserRoute reports whether a path is the dashboard's (or the logout's), where a session cookie counts as
// the token. API routes never take it.
func browserRoute(path string) bool {
	switch {
	case path == LogoutPath:
		return true
	case strings.HasPrefix(path, "/api/"), strings.HasPrefix(path, "/v1/"), strings.HasPrefix(path, "/fastslow/"):
		return false
	}
	return true
}

// unauthorized answers a request without valid credentials: 401, with the login form as the body for a
// browser's page load of a dashboard route, else in the API's error shape.
func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="fastslow"`)
	if s.sessions != nil && r.Method == http.MethodGet && browserRoute(r.URL.Path) && strings.Contains(r.Header.Get("Accept"), "text/html") {
		next := r.URL.RequestURI()
		if r.URL.Path == LogoutPath {
			next = "/"
		}
		loginPage(w, http.StatusUnauthorized, next, "")
		return
	}
	if msg == "" {
		msg = "missing or wrong token (send Authorization: Bearer TOKEN)"
	}
	writeError(w, r, http.StatusUnauthorized, msg)
}

// login handles LoginPath: GET shows the form (401 unless already logged in), POST checks the token and sets
// the session cookie.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if s.authorized(r) || s.sessions.Valid(r) {
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		loginPage(w, http.StatusUnauthorized, "/", "")
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		writeError(w, r, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed on "+LoginPath)
		return
	}
	if err := session.SameOrigin(r); err != nil {
		loginPage(w, http.StatusForbidden, "/", err.Error())
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	if err := r.ParseForm(); err != nil {
		loginPage(w, http.StatusBadRequest, "/", "reading the form: "+err.Error())
		return
	}
	next := localPath(r.PostForm.Get("next"))
	if wait := s.guesses.wait(clientIP(r)); wait > 0 {
		secs := retryAfter(w, wait)
		loginPage(w, http.StatusTooManyRequests, next, "Too many wrong tokens from this address: try again in "+secs+" s.")
		return
	}
	if !s.sessions.CheckToken(r.PostForm.Get("token")) {
		s.guesses.wrong(clientIP(r))
		w.Header().Set("WWW-Authenticate", `Bearer realm="fastslow"`)
		loginPage(w, http.StatusUnauthorized, next, "That is not the server's token.")
		return
	}
	if err := s.sessions.Login(w, r); err != nil {
		writeError(w, r, http.StatusInternalServerError, "login: "+err.Error())
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout handles POST LogoutPath (behind the token or a session, like the dashboard).
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if err := session.SameOrigin(r); err != nil {
		writeError(w, r, http.StatusForbidden, err.Error())
		return
	}
	if s.sessions != nil {
		s.sessions.Logout(w, r)
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// localPath is next if it is a path of this server's dashboard, else "/": the login never sends a browser
// to another site.
func localPath(next string) string {
	u, err := url.Parse(next)
	if err != nil || next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsAny(next, "\\\r\n") || u.Host != "" || u.Scheme != "" || !browserRoute(u.Path) || u.Path == LogoutPath {
		return "/"
	}
	return next
}

var loginTmpl = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in · fastslow</title></head>
<body>
<main id="login">
<h1>fastslow</h1>
<p>This server needs its token. Enter it once; your browser keeps a session cookie (not the token) for 12 hours.</p>
{{if .Msg}}<p id="login-error" role="alert">{{.Msg}}</p>{{end}}
<form method="post" action="` + LoginPath + `">
<input type="hidden" name="next" value="{{.Next}}">
<label>Token <input id="token" type="password" name="token" autocomplete="current-password" required autofocus></label>
<button id="login-submit" type="submit">Log in</button>
</form>
</main>
</body>
</html>
`))

// loginPage writes the login form with status code.
func loginPage(w http.ResponseWriter, code int, next, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "same-origin")
	w.WriteHeader(code)
	_ = loginTmpl.Execute(w, struct{ Next, Msg string }{next, msg})
}

// newSessions returns the session keeper of a token ("": none).
func newSessions(token string) (*session.Keeper, error) {
	if token == "" {
		return nil, nil
	}
	return session.New(token)
}
