package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestOllamaNotAnswering: an HTTP server that is not Ollama, and one that accepts connections and never
// answers (a stopped Ollama), both exit with code 3 and one line that pastes nothing from the server.
func TestOllamaNotAnswering(t *testing.T) {
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte("<!DOCTYPE html><html><body>\x1b[31mnot here</body></html>"))
	}))
	defer html.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	defer func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, tc := range []struct {
		name, host, want string
	}{
		{"not Ollama", html.URL, "not Ollama"},
		{"silent", l.Addr().String(), "no answer within 300ms"},
	} {
		_, stderr, code := runCLI(t, []string{"FASTSLOW_HOST=" + tc.host, "FASTSLOW_TIMEOUT=300ms"}, "models")
		first, _, _ := strings.Cut(stderr, "\n")
		if code != exitUnreachable || !strings.Contains(first, tc.want) || strings.ContainsAny(stderr, "<\x1b") {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", tc.name, code, stderr, exitUnreachable, tc.want)
		}
	}
}
