package server_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/server"
)

// TestWrongTokenLimit: a client that keeps presenting wrong tokens is answered 429 with Retry-After once its
// allowance is spent, on the API and on the login form alike, even when it finally sends the right token; a
// request without a token is not a guess and still gets 401.
func TestWrongTokenLimit(t *testing.T) {
	const token = "limit-test-token"
	ts := tokenServer(t, token)
	hs, c := ts.hs, ts.c
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

	limited := 0
	for i := range 100 {
		resp, _ := send(t, c, "GET", hs.URL+"/api/tags", bearer("wrong"), nil)
		if resp.StatusCode == http.StatusTooManyRequests {
			limited = i
			break
		}
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d, want 401", i+1, resp.StatusCode)
		}
	}
	if limited == 0 {
		t.Fatal("100 wrong tokens in a row were never refused with 429")
	}
	t.Logf("429 after %d wrong tokens", limited)
	for _, tc := range []struct {
		what, method, path string
		hdr                map[string]string
		form               url.Values
		want               int
	}{
		{"the right token", "GET", "/api/tags", bearer(token), nil, http.StatusTooManyRequests},
		{"the right token, OpenAI route", "GET", "/v1/models", bearer(token), nil, http.StatusTooManyRequests},
		{"the login form with the right token", "POST", server.LoginPath, nil, url.Values{"token": {token}}, http.StatusTooManyRequests},
		{"no token", "GET", "/api/tags", nil, nil, http.StatusUnauthorized},
	} {
		resp, body := send(t, c, tc.method, hs.URL+tc.path, tc.hdr, tc.form)
		if resp.StatusCode != tc.want {
			t.Errorf("%s after the limit: %d %s, want %d", tc.what, resp.StatusCode, body, tc.want)
			continue
		}
		if tc.want != http.StatusTooManyRequests {
			continue
		}
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || secs < 1 {
			t.Errorf("%s: Retry-After %q, want whole seconds >= 1", tc.what, resp.Header.Get("Retry-After"))
		}
		if !strings.Contains(strings.ToLower(body), "too many wrong tokens") {
			t.Errorf("%s: body does not say why: %s", tc.what, body)
		}
	}
}
