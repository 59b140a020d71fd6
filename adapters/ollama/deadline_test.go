package ollama_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/internal/ollamatest"
)

// TestRequestsHaveDeadlines: against a server that never answers, every kind of request ends with a
// TimeoutError (matching ErrUnreachable) once its deadline passes, and a canceled context (Ctrl-C) ends
// a request at once, as context.Canceled.
func TestRequestsHaveDeadlines(t *testing.T) {
	addr := ollamatest.SilentServer(t)
	c, err := ollama.New(addr, ollama.Options{Timeout: 300 * time.Millisecond, UploadTimeout: 600 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	calls := map[string]func() error{
		"Generate": func() error { _, err := c.Generate(ctx, "m", "hi", ollama.GenerateOptions{}); return err },
		"List":     func() error { _, err := c.List(ctx); return err },
		"Embed":    func() error { _, err := c.Embed(ctx, "m", "hi"); return err },
		"Ping":     func() error { return c.Ping(ctx) },
	}
	for name, call := range calls {
		err := call()
		var te *ollama.TimeoutError
		if !errors.As(err, &te) || !errors.Is(err, ollama.ErrUnreachable) {
			t.Errorf("%s = %v, want a TimeoutError matching ErrUnreachable", name, err)
		} else if name != "Ping" && te.Timeout != 300*time.Millisecond {
			t.Errorf("%s timed out after %s, want the request timeout", name, te.Timeout)
		}
	}
	unbounded, err := ollama.New(addr, ollama.Options{Timeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := unbounded.Generate(cctx, "m", "hi", ollama.GenerateOptions{})
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) || errors.Is(err, ollama.ErrUnreachable) {
			t.Errorf("canceled Generate = %v, want context.Canceled only", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a canceled Generate did not return")
	}
}

// TestNotOllama: an HTTP server that is not Ollama is reported as not reachable (exit code 3 in the
// command), with its status and without its page in the message.
func TestNotOllama(t *testing.T) {
	page := "<!DOCTYPE html><html><head><title>Welcome to nginx!</title></head><body>\x1b[2J<h1>Hello</h1></body></html>"
	for _, status := range []int{http.StatusOK, http.StatusNotFound} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(status)
			w.Write([]byte(page))
		}))
		c, err := ollama.New(srv.URL, ollama.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for name, err := range map[string]error{
			"Ping":     c.Ping(ctx),
			"List":     func() error { _, err := c.List(ctx); return err }(),
			"Generate": func() error { _, err := c.Generate(ctx, "m", "hi", ollama.GenerateOptions{}); return err }(),
		} {
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			if !errors.Is(err, ollama.ErrUnreachable) || strings.Contains(msg, "<") || strings.Contains(msg, "\x1b") ||
				!strings.Contains(msg, "not Ollama") {
				t.Errorf("HTTP %d: %s = %q, want ErrUnreachable saying it is not Ollama, without the page", status, name, msg)
			}
		}
		srv.Close()
	}
}
