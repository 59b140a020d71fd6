package parity_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/tokenizer"
)

// prompts vary in script, digits, whitespace and punctuation so that the tokenizer and the position handling
// (RoPE, the KV cache) are both exercised.
var prompts = []string{
	"The quick brown fox",
	"Alia Brenn was born in Veltmor on 12 March 1987",
	"Q: What is 2+2?\nA:",
	"  leading spaces,\ttabs and\n\nnewlines",
	"Ünïcödé café 日本語 🙂",
	"1234567890 3.14159 -7",
}

// texts for token counts: each is tokenized by us and by the runner.
var texts = []string{
	"hello",
	"Hello, World!",
	"  two leading spaces",
	"trailing spaces   ",
	"tabs\tand\ttabs",
	"line one\nline two\n\nline four",
	"digits 0 1 22 333 4444 55555 666666",
	"3.14159265358979 and -42 and 1,000,000",
	"naïve café — Straße, 日本語のテキスト, 🙂🙃",
	"don't won't they're we've I'm you'll he'd",
	"mixed     runs\n\n\n   of   whitespace \t \n",
	"punctuation!!! ??? ... ;;; {}[]()<>",
	"<|bos|> special in the middle <|eos|>",
}

// numPredict is the length of the compared continuations. It stays below 31: Ollama's server aborts a
// continuation silently (no final response) once the runner has sent 31 identical pieces in a row
// (llm/server.go's token repeat limit), which random models' greedy loops reach.
const numPredict = 30

type served struct {
	client *ollama.Client
	model  string
}

// create writes m to dir, creates it in Ollama as a fresh model and returns its name.
func create(t *testing.T, c *ollama.Client, path string, co ollama.CreateOptions) served {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	name := ollamatest.UniqueName(t, "fastslow-parity")
	if err := c.CreateFromGGUF(ctx, name, path, co); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return served{c, name}
}

// load reads the model at path as the engine does (weights.Load), end-of-generation tokens included.
func load(t *testing.T, path string) *weights.Model {
	t.Helper()
	m, err := weights.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// withAdapter saves a as a GGUF LoRA adapter (general.name adapterName) and creates a model of s with it,
// named after prefix.
func (s served) withAdapter(t *testing.T, a *llama.Adapter, adapterName, prefix string) served {
	t.Helper()
	path := filepath.Join(t.TempDir(), "adapter.gguf")
	if err := weights.SaveAdapter(path, a, adapterName); err != nil {
		t.Fatal(err)
	}
	name := ollamatest.UniqueName(t, prefix)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := s.client.CreateAdapted(ctx, name, s.model, path); err != nil {
		t.Fatal(err)
	}
	return served{s.client, name}
}

// checkFamily checks that the server lists s as one model of the architecture family want.
func (s served) checkFamily(t *testing.T, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ms, err := s.client.ListPrefix(ctx, s.model)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].Family != want {
		t.Errorf("server lists %+v, want family %s", ms, want)
	}
}

// changes reports whether a changes our greedy continuation of some prompt: a comparison with an adapter
// that changes nothing proves nothing.
func changes(t *testing.T, m *weights.Model, a *llama.Adapter) bool {
	t.Helper()
	for _, p := range prompts {
		x, _ := ours(t, m, a, p)
		y, _ := ours(t, m, nil, p)
		if x != y {
			return true
		}
	}
	return false
}

// greedy asks Ollama for a greedy continuation of prompt. The model is unloaded first so that no cached prefix
// of an earlier request changes the prompt token count.
func (s served) greedy(t *testing.T, prompt string) ollama.Generation {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	g, err := s.client.Generate(ctx, s.model, prompt, ollama.GenerateOptions{NumPredict: numPredict, Raw: true})
	if err != nil {
		t.Fatalf("generate on %s: %v", s.model, err)
	}
	return g
}

// ours is our engine's greedy continuation, stopped at end-of-generation as the runner does (weights.Model's
// Generate), rendered as the runner streams it, and the number of tokens the runner would report as
// evaluated (an end-of-generation token counts there).
func ours(t *testing.T, m *weights.Model, a *llama.Adapter, prompt string) (string, int) {
	t.Helper()
	tok := m.Tokenizer
	ids, err := m.Generate(context.Background(), tok.Encode(prompt, true), numPredict, llama.Sampler{}, a)
	if err != nil {
		t.Fatal(err)
	}
	n := len(ids)
	if n < numPredict {
		n++ // stopped by end-of-sequence, which the runner counts
	}
	return streamText(tok, ids), n
}

// streamText renders ids the way Ollama's llama runner streams them: the production function the in-process
// engine answers with (fastslow.RunnerText). Random-weight models emit lone byte tokens often, so comparing raw
// decoded bytes with the server's text would be comparing different things.
func streamText(tok tokenizer.Tokenizer, ids []int32) string { return fastslow.RunnerText(tok, ids) }

// compare checks, prompt by prompt, that the server continues as our engine does. Ollama's llama.cpp runner
// keeps the KV cache in F16 and rounds the attention operands to F16; our engine does the same
// (llama.Precision.KVCacheF16), so on F32 models the continuations must be equal (margin 0). Where the runner
// computes differently (Q8 activation rounding on quantized bases), a continuation may part from ours only at
// a near-tie: where our top two logits are within margin (every such split is logged).
//
// Our continuation stops at the model's end-of-generation tokens (m.EOG, through weights.Model's Generate), as
// the runner's does.
func compare(t *testing.T, s served, m *weights.Model, a *llama.Adapter, margin float32) {
	t.Helper()
	tok := m.Tokenizer
	m.Precision.KVCacheF16 = true
	m.Precision.FlashAttention = flashAttention(t)
	for _, p := range prompts {
		g := s.greedy(t, p)
		prompt := tok.Encode(p, true)
		ids, err := m.Generate(context.Background(), prompt, numPredict, llama.Sampler{}, a)
		if err != nil {
			t.Fatal(err)
		}
		want := streamText(tok, ids)
		n := len(ids)
		if n < numPredict {
			n++ // stopped by end-of-sequence, which the runner counts
		}
		if g.Text == want && g.EvalCount == n {
			continue
		}
		k, gap := split(t, m.Model, tok, a, prompt, ids, g.Text)
		if gap > margin {
			t.Errorf("prompt %q:\n ollama (%d tokens): %q\n ours   (%d tokens): %q\n they part by token %d, where our top-2 logit gap %.5f exceeds %g",
				p, g.EvalCount, g.Text, n, want, k, gap, margin)
			continue
		}
		t.Logf("prompt %q: near-tie split by token %d (top-2 gap %.5f ≤ %g)", p, k, gap, margin)
	}
}

// split finds where our continuation ids stops matching the server's text and returns that token's index and
// the smallest top-2 logit gap among the tokens that could have caused it: tokens that render to nothing (lone
// bytes, NUL) are invisible in the text, so every token since the text last matched is a candidate.
func split(t *testing.T, m *llama.Model, tok tokenizer.Tokenizer, a *llama.Adapter, prompt, ids []int32, server string) (int, float32) {
	t.Helper()
	k := 0
	for k < len(ids) && strings.HasPrefix(server, streamText(tok, ids[:k+1])) {
		k++
	}
	from := k
	for from > 0 && streamText(tok, ids[:from]) == streamText(tok, ids[:k]) {
		from--
	}
	best := float32(1e30)
	for j := from; j <= k && j <= len(ids); j++ {
		logits, err := m.Logits(append(append([]int32{}, prompt...), ids[:j]...), a)
		if err != nil {
			t.Fatal(err)
		}
		last := logits[len(logits)-m.Config.Vocab:]
		top1, top2 := topTwo(last)
		best = min(best, top1-top2)
	}
	return k, best
}

// flashVersion is the first server version whose runners are known to compute attention with ggml's flash
// attention kernel on the CPU (llama.cpp's "auto" setting, and Ollama's engine for qwen3 and gemma3): seen
// on v0.17.4; v0.6.5 does not. Versions between are untested.
const flashVersion = "0.17.4"

// flashAttention reports whether the server at OLLAMA_HOST computes attention as ggml's CPU flash attention
// kernel does (llama.Precision.FlashAttention).
func flashAttention(t *testing.T) bool {
	t.Helper()
	return ollamatest.CompareVersions(ollamatest.Version(t), flashVersion) >= 0
}

// runner returns the Precision that reproduces the server's arithmetic bit for bit: llama.Runner, with
// flash attention on the servers that use it (llama.RunnerFlash).
func runner(t *testing.T) llama.Precision {
	t.Helper()
	if flashAttention(t) {
		return llama.RunnerFlash()
	}
	return llama.Runner()
}

// f32Margin is the near-tie margin on F32 models: none, the engine reproduces the runner's F16 rounding.
const f32Margin = 0

func TestGreedyParityF32(t *testing.T) {
	c := ollamatest.Client(t)
	path := filepath.Join(t.TempDir(), "base.gguf")
	if _, _, err := tinymodel.Write(context.Background(), path, 11, 0.15, gguf.TypeF32); err != nil {
		t.Fatal(err)
	}
	compare(t, create(t, c, path, ollama.CreateOptions{}), load(t, path), nil, f32Margin)
}

func TestTokenCountParity(t *testing.T) {
	c := ollamatest.Client(t)
	path := filepath.Join(t.TempDir(), "base.gguf")
	_, tok, err := tinymodel.Write(context.Background(), path, 12, 0.15, gguf.TypeF32)
	if err != nil {
		t.Fatal(err)
	}
	s := create(t, c, path, ollama.CreateOptions{})
	for _, text := range texts {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		// Unload before each request: a prefix kept in the runner's cache would not be counted again.
		if err := c.Unload(ctx, s.model); err != nil {
			t.Fatal(err)
		}
		g, err := c.Generate(ctx, s.model, text, ollama.GenerateOptions{NumPredict: 1, Raw: true})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if want := len(tok.Encode(text, true)); g.PromptEvalCount != want {
			t.Errorf("%q: ollama counts %d prompt tokens, we count %d (%v)", text, g.PromptEvalCount, want, tok.Encode(text, true))
		}
	}
}

// adapterAll returns a rank-4 adapter on all seven projection kinds with non-zero A and B (B is zero after
// PEFT init, so it is filled here); with zeroB it keeps B at zero.
func adapterAll(t *testing.T, m *llama.Model, zeroB bool) *llama.Adapter {
	t.Helper()
	cfg := llama.LoRAConfig{Rank: 4, Alpha: 8, Targets: []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}}
	a, err := llama.NewAdapter(m, cfg, 5)
	if err != nil {
		t.Fatal(err)
	}
	if !zeroB {
		donor, err := llama.New(m.Config)
		if err != nil {
			t.Fatal(err)
		}
		donor.InitRandom(99, 0.2)
		i := 0
		for _, p := range a.Params() {
			if len(p.Name) > 7 && p.Name[len(p.Name)-7:] == ".lora_b" {
				src := donor.Tensors()[1+i%len(donor.Tensors()[1:])].Data
				for j := range p.Data {
					p.Data[j] = src[j%len(src)]
				}
				i++
			}
		}
	}
	return a
}

func TestAdapterParity(t *testing.T) {
	c := ollamatest.Client(t)
	dir := t.TempDir()
	basePath := filepath.Join(dir, "base.gguf")
	if _, _, err := tinymodel.Write(context.Background(), basePath, 13, 0.15, gguf.TypeF32); err != nil {
		t.Fatal(err)
	}
	m := load(t, basePath)
	base := create(t, c, basePath, ollama.CreateOptions{})
	for _, tt := range []struct {
		name  string
		zeroB bool
	}{{"nonzero", false}, {"zeroB", true}} {
		t.Run(tt.name, func(t *testing.T) {
			a := adapterAll(t, m.Model, tt.zeroB)
			adapted := base.withAdapter(t, a, "", "fastslow-parity-lora")
			compare(t, adapted, m, a, f32Margin)
			if tt.zeroB {
				// B = 0: the adapted model must answer exactly like the base.
				for _, p := range prompts {
					if x, y := adapted.greedy(t, p).Text, base.greedy(t, p).Text; x != y {
						t.Errorf("prompt %q: adapter with B=0 gives %q, base %q", p, x, y)
					}
				}
			} else {
				// A real adapter must change something, or the test proves nothing.
				if !changes(t, m, a) {
					t.Fatal("the non-zero adapter changes no continuation; make it stronger")
				}
			}
		})
	}
}

func topTwo(x []float32) (float32, float32) {
	a, b := float32(-1e30), float32(-1e30)
	for _, v := range x {
		if v > a {
			a, b = v, a
		} else if v > b {
			b = v
		}
	}
	return a, b
}
