package session

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestSessionLifetime: a session is valid until its expiry and not after; a logout revokes it (and only it);
// a token of another length or value is refused; the cookie holds no token.
func TestSessionLifetime(t *testing.T) {
	k, err := New("the-token")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	k.now = func() time.Time { return now }
	login := func() *http.Request {
		w := httptest.NewRecorder()
		if err := k.Login(w, httptest.NewRequest("POST", "/", nil)); err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("GET", "/", nil)
		for _, c := range w.Result().Cookies() {
			if strings.Contains(c.Value, "the-token") {
				t.Fatalf("cookie %q holds the token", c.Value)
			}
			r.AddCookie(c)
		}
		return r
	}
	a, b := login(), login()
	if !k.Valid(a) || !k.Valid(b) {
		t.Fatal("fresh sessions refused")
	}
	k.Logout(httptest.NewRecorder(), a)
	if k.Valid(a) || !k.Valid(b) {
		t.Fatalf("after logging a out: a valid %v, b valid %v; want false, true", k.Valid(a), k.Valid(b))
	}
	now = now.Add(TTL - time.Second)
	if !k.Valid(b) {
		t.Error("a session refused before its expiry")
	}
	now = now.Add(time.Second)
	if k.Valid(b) {
		t.Error("a session accepted at its expiry")
	}
	c := login()
	if !k.Valid(c) {
		t.Error("a new session refused")
	}
	k.Logout(httptest.NewRecorder(), c)
	if len(k.revoked) != 1 {
		t.Errorf("%d revoked ids kept, want only c's (a's expired and is pruned at the next logout)", len(k.revoked))
	}
	for _, tok := range []string{"the-token", "the-toke", "the-tokenx", ""} {
		if got := k.CheckToken(tok); got != (tok == "the-token") {
			t.Errorf("CheckToken(%q) = %v", tok, got)
		}
	}
	if _, err := New(""); err == nil {
		t.Error("New with an empty token: no error")
	}
}
