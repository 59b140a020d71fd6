package ollama

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	ollamaapi "github.com/ollama/ollama/api"
)

// GenerateOptions control one generation. The zero value is greedy decoding
// of at most DefaultNumPredict tokens.
type GenerateOptions struct {
	// NumPredict is the most tokens to generate; zero means DefaultNumPredict.
	NumPredict int
	// Temperature 0 is greedy (argmax) decoding.
	Temperature float64
	// TopP is nucleus sampling's mass; zero means the server's default.
	TopP float64
	// Seed makes sampling reproducible; the zero value is seed 0, and -1
	// asks the server for a random seed.
	Seed int
	// Raw sends the prompt verbatim, without the model's template. Raw
	// generations carry no Context.
	Raw bool
	// Stop ends the generation at any of these strings (not included).
	Stop []string
	// System overrides the model's system prompt (ignored when Raw).
	System string
	// OnText, if set, makes the server stream: it receives each piece of text as it arrives (an error it
	// returns ends the generation with that error). Generation.Text is the whole text either way.
	OnText func(text string) error
}

// Generation is the result of Generate.
type Generation struct {
	// Text is the generated text.
	Text string
	// Context is what the server returns as the conversation's token ids:
	// on Ollama v0.6.5 (llama.cpp runner) it is the tokenization of the
	// templated prompt followed by Text, retokenized as one string, without
	// BOS. So it is not the sampled ids: a sampled token that renders as
	// nothing is missing, and a text may retokenize differently. Compare
	// generated ids through Text instead. It is nil for raw generations, and
	// newer servers may drop it (the field is deprecated).
	Context []int
	// PromptEvalCount is the number of prompt tokens the runner evaluated,
	// BOS included; a prompt served from the runner's cache may count less.
	PromptEvalCount int
	// EvalCount is the number of generated tokens.
	EvalCount int
	// DoneReason is why generation stopped: "stop" (end of sequence or a
	// stop string) or "length" (NumPredict reached).
	DoneReason string
	// Duration is the server's total time for the request.
	Duration time.Duration
}

// requestOptions is the options map of a generate or chat request: the
// client's runner options plus g's sampling settings.
func (c *Client) requestOptions(g GenerateOptions) map[string]any {
	opts := c.runnerOptions()
	n := g.NumPredict
	if n <= 0 {
		n = DefaultNumPredict
	}
	opts["num_predict"] = n
	opts["temperature"] = g.Temperature
	opts["seed"] = g.Seed
	if g.TopP > 0 {
		opts["top_p"] = g.TopP
	}
	if len(g.Stop) > 0 {
		opts["stop"] = g.Stop
	}
	return opts
}

// Generate completes prompt with the model.
func (c *Client) Generate(ctx context.Context, model, prompt string, g GenerateOptions) (Generation, error) {
	if prompt == "" {
		// The server treats an empty prompt as "load the model" and generates nothing.
		return Generation{}, fmt.Errorf("ollama generate %q: empty prompt", model)
	}
	opts := c.requestOptions(g)
	stream := g.OnText != nil
	req := &ollamaapi.GenerateRequest{
		Model:     model,
		Prompt:    prompt,
		Raw:       g.Raw,
		Stream:    &stream,
		KeepAlive: c.keepAlive(),
		Options:   opts,
	}
	if !g.Raw {
		req.System = g.System
	}
	var last ollamaapi.GenerateResponse
	var got bool
	var text strings.Builder
	err := c.api.Generate(ctx, req, func(r ollamaapi.GenerateResponse) error {
		last, got = r, true
		if !stream || r.Response == "" {
			return nil
		}
		text.WriteString(r.Response)
		return g.OnText(r.Response)
	})
	if err != nil {
		return Generation{}, c.wrap(ctx, "generate", model, err)
	}
	if stream {
		last.Response = text.String()
	}
	if !got || !last.Done {
		// The api package ignores a stream cut short; do not mistake it for a result.
		return Generation{}, c.wrap(ctx, "generate", model, errors.New("response ended before generation was done"))
	}
	return Generation{
		Text:            last.Response,
		Context:         last.Context,
		PromptEvalCount: last.PromptEvalCount,
		EvalCount:       last.EvalCount,
		DoneReason:      last.DoneReason,
		Duration:        last.TotalDuration,
	}, nil
}

// Embed returns the model's embedding of text (POST /api/embed), normalized
// to unit length by the server; over-long text is truncated to the context.
func (c *Client) Embed(ctx context.Context, model, text string) ([]float32, error) {
	req := &ollamaapi.EmbedRequest{
		Model:     model,
		Input:     text,
		KeepAlive: c.keepAlive(),
		Options:   c.runnerOptions(),
	}
	resp, err := c.api.Embed(ctx, req)
	if err != nil {
		return nil, c.wrap(ctx, "embed", model, err)
	}
	if len(resp.Embeddings) != 1 || len(resp.Embeddings[0]) == 0 {
		return nil, c.wrap(ctx, "embed", model, fmt.Errorf("server returned %d embeddings for one input", len(resp.Embeddings)))
	}
	return resp.Embeddings[0], nil
}

// HiddenState returns the server's unnormalized embedding of text (the older
// POST /api/embeddings). For a llama-family model on Ollama's llama.cpp
// runner (v0.6.5) this is the final hidden state, after the output norm, at
// the last token of BOS+text: a numeric window into the whole network that
// parity tests can compare with the project's own forward pass. Embed
// returns the same vector scaled to unit length.
func (c *Client) HiddenState(ctx context.Context, model, text string) ([]float32, error) {
	req := &ollamaapi.EmbeddingRequest{
		Model:     model,
		Prompt:    text,
		KeepAlive: c.keepAlive(),
		Options:   c.runnerOptions(),
	}
	resp, err := c.api.Embeddings(ctx, req)
	if err != nil {
		return nil, c.wrap(ctx, "hidden state", model, err)
	}
	if len(resp.Embedding) == 0 {
		return nil, c.wrap(ctx, "hidden state", model, errors.New("server returned an empty embedding"))
	}
	out := make([]float32, len(resp.Embedding))
	for i, v := range resp.Embedding {
		out[i] = float32(v)
	}
	return out, nil
}
