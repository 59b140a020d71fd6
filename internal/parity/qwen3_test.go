package parity_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
)

// engineVersion is the first Ollama version the tests of the architectures that run on Ollama's own engine
// (qwen3, gemma3) were checked against; older servers lack the engine's current arithmetic.
const engineVersion = "0.17.4"

// TestQwen3Parity checks a qwen3 model (head norms, heads of 128 on a width of 256, NEOX RoPE; a byte-level
// BPE learned with qwen2's pre-tokenizer) against Ollama's own engine, which runs qwen3 on v0.17.4:
//   - the server runs it as qwen3;
//   - token counts: our count of each of flavorTexts (30 texts) equals the engine's prompt_eval_count;
//   - on the F16 file and on Ollama's own Q8_0 and Q4_K_M quantizations of it: the final hidden state bit
//     for bit and greedy continuations exactly, computing as the engine does (llama.RunnerFlash: ggml's
//     flash attention, quantized products, float64 sums).
func TestQwen3Parity(t *testing.T) {
	ollamatest.RequireVersion(t, engineVersion, "qwen3 runs on Ollama's own engine, checked on v0.17.4")
	c := ollamatest.Client(t)
	path := filepath.Join(t.TempDir(), "qwen3-f16.gguf")
	if _, _, err := tinymodel.WriteQwen3(context.Background(), path, 41, 0.08, gguf.TypeF16); err != nil {
		t.Fatal(err)
	}
	base := create(t, c, path, ollama.CreateOptions{Template: "{{ .Prompt }}"})
	m := load(t, path)
	t.Run("architecture", func(t *testing.T) { base.checkFamily(t, llama.ArchQwen3) })
	t.Run("tokens", func(t *testing.T) { tokenCounts(t, base, m) })
	engineQuants(t, path, base, m, "blk.0.ffn_up.weight", engineParity)
}

// engineQuants runs check, in one subtest each, on the F16 model at path (served as base, loaded as m) and
// on Ollama's Q8_0 and Q4_K_M quantizations of it, whose matrix probe the server must store as Q8_0 and
// Q4_K; each model computes as the server's runner does.
func engineQuants(t *testing.T, path string, base served, m *weights.Model, probe string, check func(*testing.T, served, *weights.Model)) {
	for _, tt := range []struct {
		quant string
		probe gguf.Type // the type of probe as stored
	}{
		{"", gguf.TypeF16},
		{"q8_0", gguf.TypeQ8_0},
		{"q4_K_M", gguf.TypeQ4_K},
	} {
		name := tt.quant
		if name == "" {
			name = "f16"
		}
		t.Run(name, func(t *testing.T) {
			s, qm := base, m
			if tt.quant != "" {
				q := quantizeAs(t, base.client, path, tt.quant, probe, tt.probe)
				s, qm = q.served, q.m
			}
			qm.Precision = runner(t)
			check(t, s, qm)
		})
	}
}

// tokenCounts checks that our token count of each of flavorTexts equals the server's prompt_eval_count.
func tokenCounts(t *testing.T, s served, m *weights.Model) {
	t.Helper()
	tokenCountsOf(t, s, m, flavorTexts(t))
}

// tokenCountsOf checks that our token count of each text equals the server's prompt_eval_count.
// Texts of more than maxCountTokens tokens by our count are left out: the runner truncates prompts to its
// context (512 tokens with the client's options), and the tiny vocabularies make the longest passages
// longer than that. At least 20 texts must remain.
func tokenCountsOf(t *testing.T, s served, m *weights.Model, all []string) {
	t.Helper()
	const maxCountTokens = 480
	var texts []string
	for _, text := range all {
		if len(m.Tokenizer.Encode(text, true)) <= maxCountTokens {
			texts = append(texts, text)
		}
	}
	if len(texts) < 20 {
		t.Fatalf("only %d texts of at most %d tokens", len(texts), maxCountTokens)
	}
	t.Logf("%d texts of up to %d tokens", len(texts), maxCountTokens)
	for _, text := range texts {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		// Unload first: a prefix kept in the runner's cache would not be counted again.
		if err := s.client.Unload(ctx, s.model); err != nil {
			cancel()
			t.Fatal(err)
		}
		g, err := s.client.Generate(ctx, s.model, text, ollama.GenerateOptions{NumPredict: 1, Raw: true})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if ids := m.Tokenizer.Encode(text, true); g.PromptEvalCount != len(ids) {
			t.Errorf("%.40q: Ollama counts %d prompt tokens, we count %d", text, g.PromptEvalCount, len(ids))
		}
	}
}
