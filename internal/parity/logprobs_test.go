package parity_test

import (
	"context"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	ollamaapi "github.com/ollama/ollama/api"

	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/llama"
)

// topLogprobs is how many of the most likely tokens the server reports at each step.
const topLogprobs = 5

// engineParity is compare for Ollama's own engine, with a numeric check in place of the final hidden state
// (the engine answers /api/embeddings with "this model does not support embeddings"): for each prompt, the
// server's greedy continuation must equal ours (weights.Model.Generate, stopped at m.EOG) in text and
// evaluated tokens, and at every step the server's log-probabilities (v0.17.4's logprobs, computed by
// runner/common.CalculateLogprobs from the engine's float32 logits) of the topLogprobs most likely tokens
// must equal ours, computed the same way from the logits of our incremental decoding
// (llama.Model.StepLogits), bit for bit. m.Precision must be the server's (runner).
func engineParity(t *testing.T, s served, m *weights.Model) {
	t.Helper()
	base, err := url.Parse(s.client.Host())
	if err != nil {
		t.Fatal(err)
	}
	api := ollamaapi.NewClient(base, http.DefaultClient)
	opt := s.client.Options()
	compared := 0 // log-probabilities compared, all of which must be equal
	for _, p := range prompts {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		stream := true // every chunk carries the log-probabilities of its tokens
		req := &ollamaapi.GenerateRequest{Model: s.model, Prompt: p, Raw: true, Stream: &stream, Logprobs: true,
			TopLogprobs: topLogprobs, Options: map[string]any{"num_ctx": opt.NumCtx, "num_thread": max(opt.NumThread, 1),
				"repeat_penalty": 1.0, "temperature": 0.0, "num_predict": numPredict}}
		var last ollamaapi.GenerateResponse
		var steps []ollamaapi.Logprob
		var chunks []string
		err := api.Generate(ctx, req, func(r ollamaapi.GenerateResponse) error {
			last = r
			steps = append(steps, r.Logprobs...)
			chunks = append(chunks, r.Response)
			return nil
		})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if !last.Done {
			t.Fatalf("prompt %q: the server ended the continuation early", p)
		}
		var text strings.Builder
		for _, r := range chunks {
			text.WriteString(r)
		}
		// Our greedy continuation; the server's log-probabilities of each step (none for an end token).
		prompt := m.Tokenizer.Encode(p, true)
		ids, err := m.Generate(context.Background(), prompt, numPredict, llama.Sampler{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		n := len(ids)
		if n < numPredict {
			n++ // stopped by an end-of-generation token, which the runner counts
		}
		if want := streamText(m.Tokenizer, ids); text.String() != want || last.EvalCount != n {
			k, gap := split(t, m.Model, m.Tokenizer, nil, prompt, ids, text.String())
			t.Errorf("prompt %q:\n ollama (%d tokens): %q\n ours   (%d tokens): %q\n they part by token %d (our top-2 logit gap %.5f)",
				p, last.EvalCount, text.String(), n, want, k, gap)
			continue
		}
		kept := sentSteps(m, ids)
		if len(steps) != len(kept) {
			t.Errorf("prompt %q: the server reports %d steps, we expect %d of our %d tokens", p, len(steps), len(kept), len(ids))
			continue
		}
		rows, err := m.StepLogits(context.Background(), prompt, ids, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, lp := range steps {
			j := kept[i]
			ours := logprobs(rows[j])
			order := topIndices(ours, topLogprobs)
			for k, top := range lp.TopLogprobs {
				if k >= len(order) {
					break
				}
				want := float64(ours[order[k]])
				if top.Logprob != want {
					t.Errorf("prompt %q step %d rank %d: server log-probability %v (%q), ours %v (%q)",
						p, j, k, top.Logprob, top.Token, want, m.Tokenizer.Piece(int32(order[k])))
				}
				compared++
			}
		}
	}
	if !t.Failed() {
		t.Logf("%d log-probabilities equal bit for bit", compared)
	}
}

// sentSteps returns the steps of a continuation whose log-probabilities the engine's runner sends
// (runner/ollamarunner): pieces wait while the text ends inside a UTF-8 character, and a flush whose text,
// cut back to valid UTF-8, is empty sends nothing, dropping the log-probabilities of its tokens.
func sentSteps(m *weights.Model, ids []int32) []int {
	var kept, pending []int
	var text strings.Builder
	flush := func() {
		s := text.String()
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		if s != "" {
			kept = append(kept, pending...)
		}
		pending = pending[:0]
		text.Reset()
	}
	for j, id := range ids {
		text.WriteString(strings.ReplaceAll(m.Tokenizer.Decode([]int32{id}), "\x00", ""))
		pending = append(pending, j)
		if !fastslow.IncompleteUTF8(text.String()) {
			flush()
		}
	}
	if len(pending) > 0 {
		flush()
	}
	return kept
}

// logprobs is runner/common.CalculateLogprobs of Ollama v0.17.4: (z − max) − float32(log Σ exp(z − max)),
// the sum in float64.
func logprobs(z []float32) []float32 {
	mx := z[0]
	for _, v := range z[1:] {
		mx = max(mx, v)
	}
	var sum float64
	for _, v := range z {
		sum += math.Exp(float64(v - mx))
	}
	lse := float32(math.Log(sum))
	out := make([]float32, len(z))
	for i, v := range z {
		out[i] = (v - mx) - lse
	}
	return out
}

// topIndices returns the indices of the k largest values, largest first (ties by lower index).
func topIndices(x []float32, k int) []int {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return x[idx[a]] > x[idx[b]] })
	return idx[:min(k, len(idx))]
}
