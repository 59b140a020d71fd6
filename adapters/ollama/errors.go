package ollama

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	ollamaapi "github.com/ollama/ollama/api"
)

// ErrUnreachable matches (with errors.Is) every error caused by not reaching
// the server at all: nothing listening, a bad host name, a dropped connection.
var ErrUnreachable = errors.New("ollama is not reachable")

// ErrModelNotFound matches (with errors.Is) every error caused by asking the
// server for a model it does not have.
var ErrModelNotFound = errors.New("model not found")

// ServerError is an error the server reported itself, e.g. a GGUF or adapter
// it rejected, or a runner that failed to load a model.
type ServerError struct {
	// Status is the HTTP status code, or 0 when the server reported the
	// error inside a stream that had started with 200 OK.
	Status int
	// Message is the server's error text.
	Message string
}

// Error implements error.
func (e *ServerError) Error() string {
	if e.Status == 0 {
		return "server error: " + e.Message
	}
	return fmt.Sprintf("server error (HTTP %d): %s", e.Status, e.Message)
}

type unreachableError struct {
	host  string
	cause error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("ollama is not reachable at %s: %v", e.host, e.cause)
}
func (e *unreachableError) Is(target error) bool { return target == ErrUnreachable }
func (e *unreachableError) Unwrap() error        { return e.cause }

type notFoundError struct {
	model, host string
}

func (e *notFoundError) Error() string {
	return fmt.Sprintf("model %q not found at %s", e.model, e.host)
}
func (e *notFoundError) Is(target error) bool { return target == ErrModelNotFound }

// wrap turns an error from the api package into one that names the operation,
// the model and the server, and classifies it.
func (c *Client) wrap(ctx context.Context, op, model string, err error) error {
	subject := "ollama " + op
	if model != "" {
		subject = fmt.Sprintf("ollama %s %q", op, model)
	}
	host := c.base.String()

	var status ollamaapi.StatusError
	if errors.As(err, &status) {
		// Ollama answers errors as JSON; an HTML page (or any error from
		// /api/version, which every Ollama has) comes from another server.
		if looksLikeHTML(status.ErrorMessage) || op == "ping" || op == "version" {
			cause := &notOllamaError{status: status.StatusCode, html: looksLikeHTML(status.ErrorMessage)}
			if op == "ping" {
				return &unreachableError{host: host, cause: cause}
			}
			return fmt.Errorf("%s: %w", subject, &unreachableError{host: host, cause: cause})
		}
		if status.StatusCode == http.StatusNotFound && model != "" {
			return fmt.Errorf("%s: %w", subject, &notFoundError{model: model, host: host})
		}
		msg := status.ErrorMessage
		if msg == "" {
			msg = status.Status
		}
		msg = printable(msg)
		return fmt.Errorf("%s at %s: %w", subject, host, &ServerError{Status: status.StatusCode, Message: msg})
	}
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) { // Ollama answers JSON
		cause := &notOllamaError{status: http.StatusOK}
		if op == "ping" {
			return &unreachableError{host: host, cause: cause}
		}
		return fmt.Errorf("%s: %w", subject, &unreachableError{host: host, cause: cause})
	}
	var authErr ollamaapi.AuthorizationError
	if errors.As(err, &authErr) {
		return fmt.Errorf("%s at %s: %w", subject, host, &ServerError{Status: authErr.StatusCode, Message: "unauthorized"})
	}
	if ctx.Err() != nil && op != "ping" {
		// The caller gave up; that is not the server's fault.
		return fmt.Errorf("%s at %s: %w", subject, host, err)
	}
	var uerr *url.Error
	var nerr net.Error
	if errors.As(err, &uerr) || errors.As(err, &nerr) || op == "ping" {
		cause := err
		if uerr != nil {
			cause = uerr.Err // the URL is already in the message
		}
		if op == "ping" {
			return &unreachableError{host: host, cause: cause}
		}
		return fmt.Errorf("%s: %w", subject, &unreachableError{host: host, cause: cause})
	}
	if looksLikeHTML(err.Error()) {
		return fmt.Errorf("%s: %w", subject, &unreachableError{host: host, cause: &notOllamaError{status: http.StatusOK, html: true}})
	}
	return fmt.Errorf("%s at %s: %w", subject, host, err)
}

// notOllamaError is the cause of an ErrUnreachable for a server that
// answers, but not as Ollama does.
type notOllamaError struct {
	status int
	html   bool
}

func (e *notOllamaError) Error() string {
	what := "an answer that is not Ollama's"
	if e.html {
		what = "an HTML page"
	}
	return fmt.Sprintf("the server there is not Ollama (HTTP %d with %s)", e.status, what)
}

// looksLikeHTML reports whether a server's answer is a web page.
func looksLikeHTML(s string) bool {
	t := strings.ToLower(strings.TrimSpace(s))
	return strings.HasPrefix(t, "<!doctype") || strings.HasPrefix(t, "<html") || strings.Contains(t, "<body")
}

// printable makes a server's message safe for a terminal and one line long:
// control characters are escaped and the text is cut at 300 bytes.
func printable(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' || r == '\t':
			b.WriteByte(' ')
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError:
			fmt.Fprintf(&b, "\\x%02x", r)
		default:
			b.WriteRune(r)
		}
		if b.Len() > 300 {
			b.WriteString("…")
			break
		}
	}
	return b.String()
}
