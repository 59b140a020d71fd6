package dashboard_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/server/dashboard"
)

type fetched struct {
	code int
	body string
}

// serve serves one request through h.
func serve(h http.Handler, r *http.Request) fetched {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	b, _ := io.ReadAll(w.Result().Body)
	return fetched{w.Code, string(b)}
}

// csrfOf reads the form token from a page.
func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no form token on the page")
	}
	return m[1]
}

func post(target string, form url.Values, header map[string]string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		r.Header.Set(k, v)
	}
	return r
}

// TestPostRules checks that no POST changes the learner unless it comes from the dashboard's own page with its
// form token, the same origin, a loopback host (or the server's token) and a confirmation.
func TestPostRules(t *testing.T) {
	l := history(t, t.TempDir())
	ctx := context.Background()
	h, err := dashboard.New(dashboard.Options{Learner: l})
	if err != nil {
		t.Fatal(err)
	}
	page := serve(h, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:9/tasks/people", nil))
	if page.code != 200 {
		t.Fatalf("task page: %d %s", page.code, page.body)
	}
	tok := csrfOf(t, page.body)
	same := map[string]string{"Origin": "http://127.0.0.1:9"}
	form := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	cases := []struct {
		name string
		req  *http.Request
		code int
		want string
	}{
		{"GET cannot roll back", httptest.NewRequest(http.MethodGet, "http://127.0.0.1:9/tasks/people/rollback?version=1&confirm=yes&csrf="+tok, nil), http.StatusMethodNotAllowed, ""},
		{"no form token", post("http://127.0.0.1:9/tasks/people/rollback", form("version", "1", "confirm", "yes"), same), http.StatusForbidden, "form token"},
		{"wrong form token", post("http://127.0.0.1:9/tasks/people/rollback", form("version", "1", "confirm", "yes", "csrf", "00"+tok[2:]), same), http.StatusForbidden, "form token"},
		{"other origin", post("http://127.0.0.1:9/tasks/people/rollback", form("version", "1", "confirm", "yes", "csrf", tok), map[string]string{"Origin": "http://evil.example"}), http.StatusForbidden, "cross-origin"},
		{"other referer", post("http://127.0.0.1:9/tasks/people/rollback", form("version", "1", "confirm", "yes", "csrf", tok), map[string]string{"Referer": "http://evil.example/x"}), http.StatusForbidden, "cross-origin"},
		{"null origin", post("http://127.0.0.1:9/tasks/people/rollback", form("version", "1", "confirm", "yes", "csrf", tok), map[string]string{"Origin": "null"}), http.StatusForbidden, "cross-origin"},
		{"rebound host", post("http://evil.example:9/tasks/people/rollback", form("version", "1", "confirm", "yes", "csrf", tok), map[string]string{"Origin": "http://evil.example:9"}), http.StatusForbidden, "loopback"},
		{"rebound host, GET", httptest.NewRequest(http.MethodGet, "http://evil.example:9/", nil), http.StatusForbidden, "loopback"},
		{"not a version", post("http://127.0.0.1:9/tasks/people/rollback", form("version", "x", "confirm", "yes", "csrf", tok), same), http.StatusBadRequest, "not a version"},
		{"unknown version", post("http://127.0.0.1:9/tasks/people/rollback", form("version", "99", "confirm", "yes", "csrf", tok), same), http.StatusNotFound, ""},
		{"unknown task", post("http://127.0.0.1:9/tasks/nobody/rollback", form("version", "1", "confirm", "yes", "csrf", tok), same), http.StatusNotFound, "unknown task"},
		{"unknown adapter", post("http://127.0.0.1:9/adapters/rollback", form("version", "7", "confirm", "yes", "csrf", tok), same), http.StatusNotFound, "no adapter version 7"},
		{"huge form", post("http://127.0.0.1:9/adapters/rollback", form("version", "1", "csrf", tok, "pad", strings.Repeat("x", 64<<10)), same), http.StatusForbidden, "form"},
		{"unconfirmed prompt rollback asks", post("http://127.0.0.1:9/tasks/people/rollback", form("version", "1", "csrf", tok), same), http.StatusOK, "to version 1"},
		{"unconfirmed adapter rollback asks", post("http://127.0.0.1:9/adapters/rollback", form("version", "1", "csrf", tok), same), http.StatusOK, "instead of version 2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := serve(h, c.req)
			if got.code != c.code || !strings.Contains(got.body, c.want) {
				t.Errorf("got %d %q…, want %d with %q", got.code, head(got.body), c.code, c.want)
			}
		})
	}
	if cur, err := l.Store().Current(ctx, "people"); err != nil || cur.Seq != 2 {
		t.Errorf("after refused or unconfirmed POSTs the prompt version is %d (%v), want 2 unchanged", cur.Seq, err)
	}
	if v, _ := l.Slow().Current(); v.Seq != 2 {
		t.Errorf("after refused or unconfirmed POSTs the adapter version is %d, want 2 unchanged", v.Seq)
	}

	// A confirmed rollback from the page without Origin (a client that is not a browser) goes through.
	got := serve(h, post("http://localhost:9/adapters/rollback", form("version", "0", "confirm", "yes", "csrf", tok), nil))
	if got.code != http.StatusSeeOther {
		t.Fatalf("confirmed adapter rollback: %d %s", got.code, head(got.body))
	}
	if _, ok := l.Slow().Current(); ok {
		t.Error("after rolling back to 0 the slow channel still serves an adapter")
	}
}

// TestServerToken checks that with a server token the host check is off and a POST needs the token.
func TestServerToken(t *testing.T) {
	l := history(t, t.TempDir())
	h, err := dashboard.New(dashboard.Options{Learner: l, Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	page := serve(h, httptest.NewRequest(http.MethodGet, "http://box.lan:9/adapters", nil))
	if page.code != 200 {
		t.Fatalf("adapters page on a non-loopback host with a token: %d", page.code)
	}
	tok := csrfOf(t, page.body)
	form := url.Values{"version": {"1"}, "confirm": {"yes"}, "csrf": {tok}}
	if got := serve(h, post("http://box.lan:9/adapters/rollback", form, nil)); got.code != http.StatusForbidden {
		t.Errorf("POST without the server's token: %d, want 403", got.code)
	}
	if got := serve(h, post("http://box.lan:9/adapters/rollback", form, map[string]string{"Authorization": "Bearer s3cret"})); got.code != http.StatusSeeOther {
		t.Errorf("POST with the server's token: %d %s, want 303", got.code, head(got.body))
	}
	if v, _ := l.Slow().Current(); v.Seq != 1 {
		t.Errorf("adapter version %d after the rollback, want 1", v.Seq)
	}
}

// TestReportFiles checks that the reports pages serve report.md and its PNGs and nothing else.
func TestReportFiles(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "run1")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	md := "# Run one\n\nText <script>alert(1)</script> and [a link](javascript:alert(1)).\n\n| a | b |\n| - | - |\n| 1 | 2 |\n\n![plot](plot.png)\n"
	for name, data := range map[string]string{"report.md": md, "plot.png": "\x89PNG\r\n\x1a\nfake", "runs.json": "{}", "../secret.png": "no"} {
		if err := os.WriteFile(filepath.Join(sub, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h, err := dashboard.New(dashboard.Options{Learner: history(t, t.TempDir()), Reports: dir})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path string
		code int
		want string
	}{
		{"/reports", 200, `href="/reports/run1/"`},
		{"/reports/run1/", 200, "<table>"},
		{"/reports/run1/plot.png", 200, "PNG"},
		{"/reports/run1/runs.json", 404, "png"},
		{"/reports/run1/..%2Fsecret.png", 404, ""},
		{"/reports/..%2F..%2Fetc/", 404, ""},
		{"/reports/-/", 404, "report.md does not exist"},
		{"/reports/nope/", 404, ""},
	}
	for _, c := range cases {
		got := serve(h, httptest.NewRequest(http.MethodGet, "http://127.0.0.1"+c.path, nil))
		if got.code != c.code || !strings.Contains(got.body, c.want) {
			t.Errorf("%s: got %d %q…, want %d with %q", c.path, got.code, head(got.body), c.code, c.want)
		}
	}
	page := serve(h, httptest.NewRequest(http.MethodGet, "http://127.0.0.1/reports/run1/", nil)).body
	for _, bad := range []string{"<script>", "javascript:"} {
		if strings.Contains(page, bad) {
			t.Errorf("the rendered report contains %q", bad)
		}
	}
	if !strings.Contains(page, `<img src="plot.png" alt="plot">`) {
		t.Errorf("the report's image is not linked relative to its page:\n%s", page)
	}
}

// TestPagesEscape checks that text from the store is shown as text on every page.
func TestPagesEscape(t *testing.T) {
	h, err := dashboard.New(dashboard.Options{Learner: history(t, t.TempDir())})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/", "/tasks/people", "/tasks/hostile", "/adapters", "/feedback", "/reports"} {
		got := serve(h, httptest.NewRequest(http.MethodGet, "http://127.0.0.1"+p, nil))
		if got.code != 200 {
			t.Errorf("%s: %d %s", p, got.code, head(got.body))
		}
		if strings.Contains(got.body, "<script") || strings.Contains(got.body, "<b>bold") {
			t.Errorf("%s: store text reached the page unescaped", p)
		}
	}
	if got := serve(h, httptest.NewRequest(http.MethodGet, "http://127.0.0.1/tasks/nobody", nil)); got.code != 404 {
		t.Errorf("unknown task: %d, want 404", got.code)
	}
}

func head(s string) string {
	if i := strings.Index(s, "<main>"); i >= 0 {
		s = s[i:]
	}
	return s[:min(len(s), 300)]
}

// TestFeedbackPagePromptsOnly checks that the queue page of a learner without a weight channel says why
// nothing waits.
func TestFeedbackPagePromptsOnly(t *testing.T) {
	l, err := fastslow.Open(context.Background(), t.TempDir(), fastslow.WithPolicy(fastslow.PolicyPrompts))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	h, err := dashboard.New(dashboard.Options{Learner: l})
	if err != nil {
		t.Fatal(err)
	}
	got := serve(h, httptest.NewRequest(http.MethodGet, "http://[::1]:9/feedback", nil))
	if got.code != 200 || !strings.Contains(got.body, "has no weight channel") || !strings.Contains(got.body, `<b id="pending-total">0</b>`) {
		t.Errorf("feedback page of a prompts-only learner: %d %s", got.code, head(got.body))
	}
}
