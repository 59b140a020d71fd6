package ollama

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Request deadlines used when Options.Timeout or Options.UploadTimeout is zero.
const (
	// DefaultTimeout bounds every request but blob uploads and creates:
	// loading a model and generating DefaultNumPredict tokens on a CPU.
	DefaultTimeout = 5 * time.Minute
	// DefaultUploadTimeout bounds a blob upload or a model create, which
	// copy or convert whole model files.
	DefaultUploadTimeout = 30 * time.Minute
)

// TimeoutError is the error of a request that got no complete answer
// within its deadline, e.g. from a server that is stopped (not dead): its
// socket accepts connections and nothing answers. It matches ErrUnreachable.
type TimeoutError struct {
	// Timeout is the deadline that passed.
	Timeout time.Duration
}

// Error implements error.
func (e *TimeoutError) Error() string {
	return fmt.Sprintf("no answer within %s (the timeout setting)", e.Timeout)
}

// Is makes a TimeoutError match ErrUnreachable: a server that does not
// answer is, to its caller, not reachable.
func (e *TimeoutError) Is(target error) bool { return target == ErrUnreachable }

// deadlineTransport gives every request its deadline: the whole exchange,
// from connecting to reading the last byte of the answer, must fit in it.
type deadlineTransport struct {
	base            http.RoundTripper
	timeout, upload time.Duration
}

func (t *deadlineTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	d := t.timeout
	if p := req.URL.Path; strings.Contains(p, "/api/blobs/") || strings.HasSuffix(p, "/api/create") {
		d = t.upload
	}
	if d <= 0 {
		return t.base.RoundTrip(req)
	}
	ctx, cancel := context.WithTimeout(req.Context(), d)
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		err = timedOut(ctx, req.Context(), d, err)
		cancel()
		return nil, err
	}
	resp.Body = &deadlineBody{ReadCloser: resp.Body, ctx: ctx, parent: req.Context(), d: d, cancel: cancel}
	return resp, nil
}

// timedOut replaces err by a TimeoutError when the request's own deadline
// (ctx), not the caller's (parent), ended it.
func timedOut(ctx, parent context.Context, d time.Duration, err error) error {
	if ctx.Err() != nil && parent.Err() == nil {
		return &TimeoutError{Timeout: d}
	}
	return err
}

// deadlineBody ends the request's deadline when the answer is closed, and
// reports a read cut by the deadline as a TimeoutError.
type deadlineBody struct {
	io.ReadCloser
	ctx, parent context.Context
	d           time.Duration
	cancel      context.CancelFunc
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = timedOut(b.ctx, b.parent, b.d, err)
	}
	return n, err
}

func (b *deadlineBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// withDeadlines returns a copy of hc whose transport gives each request its
// deadline.
func withDeadlines(hc *http.Client, timeout, upload time.Duration) *http.Client {
	c := *hc
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = &deadlineTransport{base: base, timeout: timeout, upload: upload}
	return &c
}
