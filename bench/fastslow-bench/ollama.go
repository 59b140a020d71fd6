package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"time"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/ollama/ollama/api"
)

// ollamaBench creates the benchmark model on an Ollama server and measures its prompt evaluation.
type ollamaBench struct {
	host    string
	threads int
	numCtx  int
	name    string
	client  *ollama.Client
	api     *api.Client
}

// newOllamaBench uploads dir's GGUF to the server at host as a new model. The caller must call close.
func newOllamaBench(ctx context.Context, host, dir string, threads, numCtx int) (*ollamaBench, error) {
	cl, err := ollama.New(host, ollama.Options{NumThread: threads, NumCtx: numCtx})
	if err != nil {
		return nil, err
	}
	if err := cl.Ping(ctx); err != nil {
		return nil, err
	}
	u, err := url.Parse("http://" + host)
	if err != nil {
		return nil, fmt.Errorf("ollama host %q: %w", host, err)
	}
	o := &ollamaBench{host: host, threads: threads, numCtx: numCtx, client: cl,
		api:  api.NewClient(u, &http.Client{Timeout: 10 * time.Minute}),
		name: fmt.Sprintf("fastslow-bench-%d", time.Now().UnixNano())}
	if err := cl.CreateFromGGUF(ctx, o.name, filepath.Join(dir, ggufFile), ollama.CreateOptions{}); err != nil {
		return nil, err
	}
	return o, nil
}

// close deletes the model from the server.
func (o *ollamaBench) close(ctx context.Context) error {
	return o.client.Delete(ctx, o.name)
}

// promptEval sends text as a raw prompt for one generated token and returns the server's own prompt
// evaluation figures: tokens evaluated and tokens per second.
func (o *ollamaBench) promptEval(ctx context.Context, text string) (int, float64, error) {
	stream := false
	req := &api.GenerateRequest{Model: o.name, Prompt: text, Raw: true, Stream: &stream,
		Options: map[string]any{"num_predict": 1, "temperature": 0, "num_thread": o.threads, "num_ctx": o.numCtx}}
	var resp api.GenerateResponse
	err := o.api.Generate(ctx, req, func(r api.GenerateResponse) error {
		resp = r
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("ollama %s: generate: %w", o.host, err)
	}
	m := resp.Metrics
	if m.PromptEvalCount == 0 || m.PromptEvalDuration <= 0 {
		return 0, 0, fmt.Errorf("ollama %s: no prompt evaluation reported (count %d, duration %v)", o.host,
			m.PromptEvalCount, m.PromptEvalDuration)
	}
	return m.PromptEvalCount, float64(m.PromptEvalCount) / m.PromptEvalDuration.Seconds(), nil
}
