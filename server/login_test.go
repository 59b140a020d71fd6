package server_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/server"
	"github.com/fastslow/fastslow/server/dashboard"
)

// tokened is a server with the dashboard on an engine learner, both behind one token.
type tokened struct {
	l  *fastslow.Learner
	d  *dashboard.Handler
	s  *server.Server
	hs *httptest.Server
	c  *http.Client // does not follow redirects
}

// tokenServer starts a tokened server behind token.
func tokenServer(t *testing.T, token string) tokened {
	t.Helper()
	l := openEngine(t)
	d, err := dashboard.New(dashboard.Options{Learner: l, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.New(server.Config{Learner: l, Token: token, Dashboard: d})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return tokened{l, d, s, hs, noRedirect(hs)}
}

// noRedirect is a client that shows redirects instead of following them.
func noRedirect(hs *httptest.Server) *http.Client {
	c := *hs.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// send sends a request with the given headers and form (POST when form is not nil) and returns the response
// with its body read.
func send(t *testing.T, c *http.Client, method, u string, hdr map[string]string, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, b := roundTrip(t, c, req)
	return resp, string(b)
}

func sessionCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == "fastslow_session" {
			return c
		}
	}
	return nil
}

// TestLoginSession: behind a token a person logs in through the login form once and the browser's session
// cookie opens the dashboard's routes, never the API's; without credentials every route, the login route
// included, answers 401 (a browser's page load gets the login form as the body); the cookie is HttpOnly,
// SameSite=Strict, Secure over TLS and does not hold the token; a wrong token, another origin, a forged or
// another token's cookie and a logged-out session are all refused; the login never redirects off the site.
func TestLoginSession(t *testing.T) {
	const token = "login-test-token"
	srv := tokenServer(t, token)
	l, d, s, hs, c := srv.l, srv.d, srv.s, srv.hs, srv.c
	html := map[string]string{"Accept": "text/html,application/xhtml+xml"}

	type route struct{ method, path string }
	routes := []route{
		{"GET", "/"}, {"GET", "/adapters"}, {"GET", "/feedback"}, {"GET", "/static/style.css"}, {"HEAD", "/"},
		{"GET", "/api/tags"}, {"GET", "/v1/models"}, {"POST", "/fastslow/feedback"}, {"POST", "/adapters/rollback"},
		{"GET", server.LoginPath}, {"POST", server.LoginPath}, {"POST", server.LogoutPath}, {"GET", "/nowhere"},
	}
	for _, r := range routes {
		for _, hdr := range []map[string]string{nil, html} {
			var form url.Values
			if r.method == "POST" {
				form = url.Values{}
			}
			resp, _ := send(t, c, r.method, hs.URL+r.path, hdr, form)
			if resp.StatusCode != http.StatusUnauthorized || sessionCookie(resp) != nil {
				t.Errorf("%s %s without credentials (Accept %q): %d, cookie %v; want 401 and no cookie", r.method, r.path, hdr["Accept"], resp.StatusCode, sessionCookie(resp))
			}
		}
	}
	resp, body := send(t, c, "GET", hs.URL+"/adapters", html, nil)
	if !strings.Contains(body, `action="/fastslow/login"`) || !strings.Contains(body, `name="next" value="/adapters"`) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("a browser's page load without credentials: %s\n%s", resp.Header.Get("Content-Type"), body)
	}

	login := func(c *http.Client, base, tok, next string, hdr map[string]string) *http.Response {
		resp, _ := send(t, c, "POST", base+server.LoginPath, hdr, url.Values{"token": {tok}, "next": {next}})
		return resp
	}
	if resp := login(c, hs.URL, "wrong", "/", nil); resp.StatusCode != http.StatusUnauthorized || sessionCookie(resp) != nil {
		t.Errorf("login with a wrong token: %d, cookie %v", resp.StatusCode, sessionCookie(resp))
	}
	if resp := login(c, hs.URL, token, "/", map[string]string{"Origin": "http://evil.example"}); resp.StatusCode != http.StatusForbidden || sessionCookie(resp) != nil {
		t.Errorf("login from another origin: %d, cookie %v", resp.StatusCode, sessionCookie(resp))
	}
	for next, want := range map[string]string{
		"/adapters?x=1": "/adapters?x=1", "//evil.example/x": "/", "https://evil.example/": "/", "/\\evil.example": "/",
		"/api/tags": "/", "": "/", server.LogoutPath: "/",
	} {
		resp := login(c, hs.URL, token, next, map[string]string{"Origin": hs.URL})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("login with next %q: %d to %q, want 303 to %q", next, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}
	resp = login(c, hs.URL, token, "/adapters", nil)
	ck := sessionCookie(resp)
	if ck == nil {
		t.Fatalf("login with the token: %d, no session cookie", resp.StatusCode)
	}
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure || ck.Path != "/" || ck.MaxAge <= 0 || strings.Contains(ck.Value, token) {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, not Secure over plain HTTP, path /, a lifetime, no token in it", ck)
	}
	withCookie := func(ck *http.Cookie, extra map[string]string) map[string]string {
		h := map[string]string{"Cookie": ck.Name + "=" + ck.Value}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	for _, r := range []route{{"GET", "/"}, {"GET", "/adapters"}, {"GET", "/feedback"}, {"GET", "/static/style.css"}} {
		if resp, body := send(t, c, r.method, hs.URL+r.path, withCookie(ck, html), nil); resp.StatusCode != http.StatusOK {
			t.Errorf("%s %s with the session: %d %.200s", r.method, r.path, resp.StatusCode, body)
		}
	}
	if resp, body := send(t, c, "GET", hs.URL+"/", withCookie(ck, html), nil); !strings.Contains(body, `action="/fastslow/logout"`) {
		t.Errorf("the dashboard behind a token offers no logout: %d", resp.StatusCode)
	}
	if resp, _ := send(t, c, "GET", hs.URL+server.LoginPath, withCookie(ck, html), nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the login page when logged in: %d, want 303 to the dashboard", resp.StatusCode)
	}
	for _, r := range []route{{"GET", "/api/tags"}, {"GET", "/v1/models"}, {"POST", "/fastslow/feedback"}, {"POST", "/api/generate"}} {
		var form url.Values
		if r.method == "POST" {
			form = url.Values{}
		}
		if resp, _ := send(t, c, r.method, hs.URL+r.path, withCookie(ck, nil), form); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s with only the session cookie: %d, want 401 (API routes take the token only)", r.method, r.path, resp.StatusCode)
		}
	}
	forged := *ck
	forged.Value = ck.Value[:len(ck.Value)-2] + map[bool]string{true: "AA", false: "BB"}[!strings.HasSuffix(ck.Value, "AA")]
	other, err := server.New(server.Config{Learner: l, Token: "another-token", Dashboard: d})
	if err != nil {
		t.Fatal(err)
	}
	ohs := httptest.NewServer(other)
	defer ohs.Close()
	if resp, _ := send(t, c, "GET", hs.URL+"/adapters", withCookie(&forged, html), nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a forged session: %d, want 401", resp.StatusCode)
	}
	if resp, _ := send(t, c, "GET", ohs.URL+"/adapters", withCookie(ck, html), nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a session of another token: %d, want 401", resp.StatusCode)
	}

	// Logout: same origin only; then the session is refused even if the browser kept the cookie.
	if resp, _ := send(t, c, "POST", hs.URL+server.LogoutPath, withCookie(ck, map[string]string{"Origin": "http://evil.example"}), url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout from another origin: %d, want 403", resp.StatusCode)
	}
	resp, _ = send(t, c, "POST", hs.URL+server.LogoutPath, withCookie(ck, map[string]string{"Origin": hs.URL}), url.Values{})
	if cleared := sessionCookie(resp); resp.StatusCode != http.StatusSeeOther || cleared == nil || cleared.MaxAge >= 0 {
		t.Errorf("logout: %d, cookie %+v; want 303 and the cookie cleared", resp.StatusCode, cleared)
	}
	if resp, _ := send(t, c, "GET", hs.URL+"/adapters", withCookie(ck, html), nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the logged-out session: %d, want 401", resp.StatusCode)
	}

	// Over TLS the cookie is Secure.
	ts := httptest.NewTLSServer(s)
	defer ts.Close()
	tc := noRedirect(ts)
	tc.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	if ck := sessionCookie(login(tc, ts.URL, token, "/", nil)); ck == nil || !ck.Secure || !ck.HttpOnly {
		t.Errorf("session cookie over TLS: %+v, want Secure and HttpOnly", ck)
	}
}
