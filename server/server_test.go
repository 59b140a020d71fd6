package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/server"
)

// openEngine opens a learner on the embedded model, served by the in-process engine (no Ollama needed).
func openEngine(t *testing.T, opts ...fastslow.Option) *fastslow.Learner {
	t.Helper()
	l, err := fastslow.Open(context.Background(), t.TempDir(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// newServer starts a test HTTP server for cfg (its learner defaults to an engine learner).
func newServer(t *testing.T, cfg server.Config) (*server.Server, *httptest.Server) {
	t.Helper()
	if cfg.Learner == nil {
		cfg.Learner = openEngine(t)
	}
	s, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return s, hs
}

// do sends a request and returns the status and body.
func do(t *testing.T, method, url, token string, body io.Reader) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, b := roundTrip(t, http.DefaultClient, req)
	return resp.StatusCode, b
}

// roundTrip sends req with c and returns the response with its body read (and closed).
func roundTrip(t *testing.T, c *http.Client, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// routes are every route the server has, with a request body that would succeed.
var routes = []struct{ method, path, body string }{
	{"HEAD", "/", ""},
	{"GET", "/", ""},
	{"GET", "/api/version", ""},
	{"GET", "/api/tags", ""},
	{"POST", "/api/show", `{"model":"fastslow/t"}`},
	{"POST", "/api/generate", `{"model":"fastslow/t","prompt":"Q: hi\nA:","stream":false}`},
	{"POST", "/api/chat", `{"model":"fastslow/t","messages":[{"role":"user","content":"hi"}],"stream":false}`},
	{"GET", "/api/ps", ""},
	{"POST", "/api/pull", `{"model":"x"}`},
	{"GET", "/v1/models", ""},
	{"POST", "/v1/chat/completions", `{"model":"fastslow/t","messages":[{"role":"user","content":"hi"}]}`},
	{"POST", "/fastslow/feedback", `{"id":"fs-0","score":1}`},
	{"GET", "/fastslow/answers", ""},
	{"POST", "/fastslow/login", "token=wrong&next=/"},
	{"POST", "/fastslow/logout", ""},
	{"GET", "/fastslow/anything", ""},
	{"GET", "/dashboard/page", ""},
}

func TestCheckBind(t *testing.T) {
	for _, tc := range []struct {
		addr, token string
		ok          bool
	}{
		{"127.0.0.1:11435", "", true},
		{"127.0.0.2:11435", "", true},
		{"localhost:11435", "", true},
		{"[::1]:11435", "", true},
		{"0.0.0.0:11435", "", false},
		{":11435", "", false},
		{"192.0.2.7:11435", "", false},
		{"example.com:11435", "", false},
		{"0.0.0.0:11435", "tok", true},
		{"nonsense", "tok", false},
	} {
		err := server.CheckBind(tc.addr, tc.token)
		if (err == nil) != tc.ok {
			t.Errorf("CheckBind(%q, %q) = %v, want ok=%v", tc.addr, tc.token, err, tc.ok)
		}
		if err != nil && tc.addr != "nonsense" && !errors.Is(err, server.ErrNeedToken) {
			t.Errorf("CheckBind(%q): %v does not wrap ErrNeedToken", tc.addr, err)
		}
	}
}

// nonLoopback returns an address of this machine that is not loopback, or skips.
func nonLoopback(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	t.Skip("this machine has no non-loopback IPv4 address to bind")
	return ""
}

// TestTokenOnEveryRoute binds the machine's non-loopback address (127.0.0.2 is loopback, so it would not
// need a token): Serve refuses it without a token, and with one every route answers 401 to a request
// without it or with a wrong one.
func TestTokenOnEveryRoute(t *testing.T) {
	host := nonLoopback(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := openEngine(t)

	open, err := server.New(server.Config{Learner: l})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	if err := open.Serve(ctx, ln); !errors.Is(err, server.ErrNeedToken) {
		t.Fatalf("Serve on %s without a token: %v, want ErrNeedToken", ln.Addr(), err)
	}
	ln.Close()

	const token = "s3cret-token"
	s, err := server.New(server.Config{Learner: l, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	ln, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	for _, r := range routes {
		for _, tok := range []string{"", "wrong"} {
			code, body := do(t, r.method, base+r.path, tok, strings.NewReader(r.body))
			if code != http.StatusUnauthorized {
				t.Errorf("%s %s with token %q: %d %s, want 401", r.method, r.path, tok, code, body)
			}
		}
	}
	if code, body := do(t, "GET", base+"/api/tags", token, nil); code != http.StatusOK {
		t.Errorf("GET /api/tags with the token: %d %s", code, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// errorMessage reads the API's error shape: {"error": "..."} (Ollama) or {"error": {"message": "..."}}
// (OpenAI, under /v1/).
func errorMessage(t *testing.T, path string, body []byte) string {
	t.Helper()
	if strings.HasPrefix(path, "/v1/") {
		var e struct {
			Error struct {
				Message string `json:"message"`
				Type    string `json:"type"`
			} `json:"error"`
		}
		if err := json.Unmarshal(body, &e); err != nil || e.Error.Message == "" || e.Error.Type == "" {
			t.Errorf("%s: error body %s is not OpenAI's shape (%v)", path, body, err)
		}
		return e.Error.Message
	}
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
		t.Errorf("%s: error body %s is not Ollama's shape (%v)", path, body, err)
	}
	return e.Error
}

func TestBadRequests(t *testing.T) {
	_, hs := newServer(t, server.Config{MaxBody: 256})
	big := `{"model":"fastslow/t","prompt":"` + strings.Repeat("x", 1000) + `"}`
	for _, path := range []string{"/api/generate", "/api/chat", "/api/show", "/v1/chat/completions", "/fastslow/feedback"} {
		for _, tc := range []struct {
			name string
			body io.Reader
			code int
			msg  string
		}{
			{"malformed", strings.NewReader(`{"model": "fastslow/t", `), http.StatusBadRequest, "malformed JSON"},
			{"not an object", strings.NewReader(`[1,2]`), http.StatusBadRequest, "malformed JSON"},
			{"oversize", strings.NewReader(big), http.StatusRequestEntityTooLarge, "over the limit"},
			// Without a Content-Length (chunked), the limit is found while reading.
			{"oversize chunked", io.MultiReader(strings.NewReader(big)), http.StatusRequestEntityTooLarge, "over the limit"},
		} {
			code, body := do(t, "POST", hs.URL+path, "", tc.body)
			if code != tc.code {
				t.Errorf("%s %s: %d %s, want %d", tc.name, path, code, body, tc.code)
				continue
			}
			if msg := errorMessage(t, path, body); !strings.Contains(msg, tc.msg) {
				t.Errorf("%s %s: message %q, want it to say %q", tc.name, path, msg, tc.msg)
			}
		}
	}
	for _, m := range []string{"PUT", "DELETE", "PATCH"} {
		if code, body := do(t, m, hs.URL+"/api/delete", "", strings.NewReader(`{"model":"x"}`)); code != http.StatusMethodNotAllowed {
			t.Errorf("%s /api/delete: %d %s, want 405", m, code, body)
		}
	}
	for _, tc := range []struct{ body, msg string }{
		{`{"id":"fs-nope","score":1}`, "no answer with id"},
		{`{"score":1}`, `needs "id"`},
		{`{"id":"fs-x","score":1,"extra":true}`, "unknown field"},
	} {
		code, body := do(t, "POST", hs.URL+"/fastslow/feedback", "", strings.NewReader(tc.body))
		if code < 400 || !strings.Contains(errorMessage(t, "/fastslow/feedback", body), tc.msg) {
			t.Errorf("feedback %s: %d %s, want an error saying %q", tc.body, code, body, tc.msg)
		}
	}
	for _, path := range []string{"/api/generate", "/api/chat", "/api/show", "/v1/chat/completions"} {
		code, body := do(t, "POST", hs.URL+path, "", strings.NewReader(`{"model":"fastslow/no such task!","prompt":"hi"}`))
		if code != http.StatusBadRequest || !strings.Contains(errorMessage(t, path, body), "not a task name") {
			t.Errorf("%s with a bad task name: %d %s, want 400", path, code, body)
		}
	}
	// No Ollama behind: other models get a 502 in the error shape, not a hang or a panic.
	code, body := do(t, "POST", hs.URL+"/api/generate", "", strings.NewReader(`{"model":"llama3","prompt":"hi"}`))
	if code != http.StatusBadGateway {
		t.Errorf("passthrough without Ollama: %d %s, want 502", code, body)
	}
	errorMessage(t, "/api/generate", body)
}

// generate asks model for prompt through /api/generate (not streamed) and returns the answer and its id.
func generate(t *testing.T, base, model, prompt string) (string, string) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"model": model, "prompt": prompt, "stream": false})
	code, body := do(t, "POST", base+"/api/generate", "", bytes.NewReader(b))
	if code != http.StatusOK {
		t.Fatalf("generate %s: %d %s", model, code, body)
	}
	var r struct {
		Response   string `json:"response"`
		FastslowID string `json:"fastslow_id"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	return r.Response, r.FastslowID
}

// sendFeedback posts feedback on answer id.
func sendFeedback(t *testing.T, base, id string, score float64, answer string) server.FeedbackResponse {
	t.Helper()
	return sendFeedbackAs(t, base, "", id, score, answer)
}

// sendFeedbackAs is sendFeedback with a bearer token.
func sendFeedbackAs(t *testing.T, base, token, id string, score float64, answer string) server.FeedbackResponse {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"id": id, "score": score, "answer": answer})
	code, body := do(t, "POST", base+"/fastslow/feedback", token, bytes.NewReader(b))
	if code != http.StatusOK {
		t.Fatalf("feedback: %d %s", code, body)
	}
	var r server.FeedbackResponse
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	return r
}
