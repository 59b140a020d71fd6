// Package ollama is fastslow's bridge to an Ollama server: it generates and
// embeds text, uploads GGUF files as blobs, creates models from a GGUF (a base
// model, or a base plus a LoRA adapter), lists and deletes models, and finds
// the GGUF file behind a model name.
//
// It speaks only the stable parts of the Ollama HTTP API (through the
// official client package), so it works with the Ollama v0.6.5 the project
// builds for its tests and with the newer servers users already run.
//
// Every error says which server and which model it concerns, and can be
// classified with errors.Is against [ErrUnreachable] and [ErrModelNotFound],
// or errors.As against [*ServerError].
package ollama

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	ollamaapi "github.com/ollama/ollama/api"
)

// DefaultHost is where Ollama listens when OLLAMA_HOST is not set.
const DefaultHost = "127.0.0.1:11434"

// DefaultNumCtx is the context window asked of the runner when
// Options.NumCtx is zero. It is small on purpose: the project's prompts are
// short, and a small KV cache keeps load time and memory low on small machines.
const DefaultNumCtx = 512

// DefaultNumPredict bounds a generation when GenerateOptions.NumPredict is
// zero. Without a bound, Ollama's runner shifts its context and may generate
// forever.
const DefaultNumPredict = 128

// Options tune how the client drives the server. The zero value is ready to use.
type Options struct {
	// NumThread is the number of CPU threads the runner uses per request.
	// Zero means 1 on machines with at most 2 cores (ggml's busy-waiting
	// threads fight each other there: latency swung from 0.1 s to 13 s per
	// request), and the server's default elsewhere.
	NumThread int

	// NumCtx is the runner's context window in tokens; zero means DefaultNumCtx.
	// Ollama reloads a model when this changes, so keep it constant per model.
	NumCtx int

	// KeepAlive is how long the server keeps a model loaded after a request;
	// zero means the server's default, negative means forever.
	KeepAlive time.Duration

	// ModelsDir is the server's model store (OLLAMA_MODELS of the server),
	// used by ResolveGGUF when the server does not report a usable path.
	// Empty means $OLLAMA_MODELS, else ~/.ollama/models.
	ModelsDir string

	// Timeout bounds each request (but blob uploads and creates): the
	// whole exchange must end within it. Zero means DefaultTimeout,
	// negative means no bound but the caller's context.
	Timeout time.Duration

	// UploadTimeout bounds each blob upload and model create; zero means
	// DefaultUploadTimeout, negative means no bound.
	UploadTimeout time.Duration

	// HTTPClient sends the requests; nil means a new client. Its transport
	// is wrapped to apply Timeout and UploadTimeout.
	HTTPClient *http.Client
}

// Client talks to one Ollama server. It is safe for concurrent use.
type Client struct {
	base *url.URL
	http *http.Client
	api  *ollamaapi.Client
	opt  Options
	// replaceForeign lets create replace models without the marker.
	replaceForeign bool
}

// New returns a client for the Ollama server at host, which is either
// "host:port", a bare host (port 11434) or a URL such as
// "http://127.0.0.1:11500". It does not contact the server; see Ping.
func New(host string, opt Options) (*Client, error) {
	base, err := parseHost(host)
	if err != nil {
		return nil, err
	}
	if opt.NumThread < 0 || opt.NumCtx < 0 {
		return nil, fmt.Errorf("ollama: negative NumThread (%d) or NumCtx (%d)", opt.NumThread, opt.NumCtx)
	}
	if opt.NumThread == 0 && runtime.NumCPU() <= 2 {
		opt.NumThread = 1
	}
	if opt.NumCtx == 0 {
		opt.NumCtx = DefaultNumCtx
	}
	if opt.ModelsDir == "" {
		opt.ModelsDir = defaultModelsDir()
	}
	if opt.Timeout == 0 {
		opt.Timeout = DefaultTimeout
	}
	if opt.UploadTimeout == 0 {
		opt.UploadTimeout = DefaultUploadTimeout
	}
	hc := opt.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	hc = withDeadlines(hc, opt.Timeout, opt.UploadTimeout)
	return &Client{base: base, http: hc, api: ollamaapi.NewClient(base, hc), opt: opt}, nil
}

// FromEnv returns a client for the server named by OLLAMA_HOST, or
// DefaultHost when it is unset.
func FromEnv(opt Options) (*Client, error) {
	host := strings.TrimSpace(os.Getenv("OLLAMA_HOST"))
	if host == "" {
		host = DefaultHost
	}
	return New(host, opt)
}

// Host returns the server's base URL, e.g. "http://127.0.0.1:11434".
func (c *Client) Host() string { return c.base.String() }

// Options returns the options in effect, with defaults filled in.
func (c *Client) Options() Options { return c.opt }

// Ping checks that the server answers. Without a deadline on ctx it waits at
// most 5 seconds.
func (c *Client) Ping(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	_, err := c.api.Version(ctx)
	if err != nil {
		return c.wrap(ctx, "ping", "", err)
	}
	return nil
}

// Version returns the server's version string. Servers built without
// release flags (like the test builds) report "0.0.0".
func (c *Client) Version(ctx context.Context) (string, error) {
	v, err := c.api.Version(ctx)
	if err != nil {
		return "", c.wrap(ctx, "version", "", err)
	}
	return v, nil
}

// parseHost reads host the way Ollama reads OLLAMA_HOST: without a scheme
// the port defaults to 11434, with "http://" or "https://" to 80 or 443.
func parseHost(host string) (*url.URL, error) {
	s := strings.TrimSpace(host)
	if s == "" {
		s = DefaultHost
	}
	scheme, hostport, ok := strings.Cut(s, "://")
	defaultPort := "11434"
	switch {
	case !ok:
		scheme, hostport = "http", s
	case scheme == "http":
		defaultPort = "80"
	case scheme == "https":
		defaultPort = "443"
	default:
		return nil, fmt.Errorf("ollama: host %q: unsupported scheme %q (want http or https)", host, scheme)
	}
	hostport, path, _ := strings.Cut(hostport, "/")
	h, port, err := net.SplitHostPort(hostport)
	if err != nil {
		// No port: the whole thing is the host (an IPv6 literal may be bracketed).
		h, port = strings.Trim(hostport, "[]"), defaultPort
	}
	if h == "" {
		h = "127.0.0.1"
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return nil, fmt.Errorf("ollama: host %q: invalid port %q", host, port)
	}
	u := &url.URL{Scheme: scheme, Host: net.JoinHostPort(h, port)}
	if path != "" {
		u.Path = "/" + path
	}
	return u, nil
}

// defaultModelsDir is where a server started by the same user keeps models.
func defaultModelsDir() string {
	if d := os.Getenv("OLLAMA_MODELS"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".ollama", "models")
}

// runnerOptions are the model options sent with every request. repeat_penalty
// is 1 so that temperature 0 is pure argmax (Ollama's default 1.1 penalizes
// the last 64 tokens, prompt included), which parity tests rely on.
func (c *Client) runnerOptions() map[string]any {
	o := map[string]any{
		"num_ctx":        c.opt.NumCtx,
		"repeat_penalty": 1.0,
	}
	if c.opt.NumThread > 0 {
		o["num_thread"] = c.opt.NumThread
	}
	return o
}

// keepAlive is the keep_alive field for requests, nil for the server's default.
func (c *Client) keepAlive() *ollamaapi.Duration {
	if c.opt.KeepAlive == 0 {
		return nil
	}
	return &ollamaapi.Duration{Duration: c.opt.KeepAlive}
}
