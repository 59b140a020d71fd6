package parity_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/internal/ollamamod"
	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
)

// flavorTexts is the text set for tokenizer parity: the short texts above, passages of War and Peace of
// growing length from across the book, and texts built to stress the pre-tokenizers (scripts, combining
// marks, emoji sequences, digit runs, whitespace runs, special-token texts, code).
func flavorTexts(t *testing.T) []string {
	t.Helper()
	out := slices.Clone(texts)
	path, err := ollamamod.Testdata("war-and-peace.txt")
	if err != nil {
		t.Fatal(err)
	}
	book, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range []int{120, 300, 600, 900, 1200, 1500} {
		at := len(book) / 7 * (i + 1)
		out = append(out, passage(book, at, n))
	}
	return append(out,
		"Ελληνικά, русский, עברית, العربية, हिन्दी, ไทย, 한국어, 中文, 日本語のかなとカナ",
		"combining: e\u0301 a\u0308 n\u0303; ligatures: ﬁ ﬂ; fullwidth: ＡＢＣ１２３",
		"emoji: 👩‍👩‍👧‍👦 🇫🇷 ✅ 🙂🙂🙂 ☕️",
		"0 01 012 0123 01234 012345 0123456 1,234,567.890 1e10 -0.5 ٣٤٥ ١٢ ½",
		"a  b   c    d\t\te\n\n\nf \n \n g\r\n\r\nh      \u00a0\u3000 end  ",
		"\n\n\n\n",
		"     ",
		"DON'T I'M You'LL we'Re it's 's 't",
		"<|begin_of_text|>x<|eot_id|>y<|im_start|>z<|im_end|><|endoftext|><|start_header_id|>",
		"func main() {\n\tfmt.Println(\"hi\") // comment\n}\n\n    if x != nil { return x }\n",
		"https://example.com/path?q=1&r=two#frag user@example.org C:\\Windows\\System32",
	)
}

// passage returns about n bytes of book starting near at, on character boundaries.
func passage(book []byte, at, n int) string {
	for at > 0 && !utf8.RuneStart(book[at]) {
		at--
	}
	end := min(at+n, len(book))
	for end < len(book) && !utf8.RuneStart(book[end]) {
		end++
	}
	return string(book[at:end])
}

// createFlavor writes a random model of flavor f and creates it in Ollama with the bare-prompt template, so
// that non-raw requests tokenize exactly the text sent.
func createFlavor(t *testing.T, c *ollama.Client, f tinymodel.Flavor, seed uint64, typ gguf.Type) (served, *weights.Model, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "base.gguf")
	if _, _, err := tinymodel.WriteFlavor(path, f, seed, 0.15, typ); err != nil {
		t.Fatal(err)
	}
	m, err := weights.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return create(t, c, path, ollama.CreateOptions{Template: "{{ .Prompt }}"}), m, path
}

// TestFlavorParity checks each flavor (a llama-3.2 and a qwen2.5 shape with real vocabularies) against
// Ollama, on one model per flavor:
//   - the server runs it as the architecture we wrote;
//   - tokens: two oracles, the runner's prompt_eval_count (its llama_tokenize with BOS as the model wants
//     it; v0.6.5 counts the whole prompt whatever its cache holds) and the server's own tokenization of
//     prompt and response, which v0.6.5 returns as the context of a non-raw request (llama_tokenize without
//     BOS, special tokens parsed), on flavorTexts;
//   - the final hidden state, bit for bit, computing as the runner does (llama.Runner);
//   - greedy continuations, exactly, without and with a LoRA adapter on all seven projection kinds.
func TestFlavorParity(t *testing.T) {
	c := ollamatest.Client(t)
	for _, f := range tinymodel.Flavors() {
		t.Run(string(f), func(t *testing.T) {
			s, m, _ := createFlavor(t, c, f, 21, gguf.TypeF32)
			t.Run("architecture", func(t *testing.T) { s.checkFamily(t, m.Config.Architecture()) })
			t.Run("tokens", func(t *testing.T) { tokenParity(t, s, m) })
			t.Run("hidden", func(t *testing.T) {
				defer func(p llama.Precision) { m.Precision = p }(m.Precision)
				m.Precision = runner(t)
				hiddenEqual(t, s, m, flavorTexts(t)...) // up to about 400 tokens
			})
			t.Run("greedy", func(t *testing.T) {
				if testing.Short() {
					t.Skip("about 30 s against Ollama")
				}
				compare(t, s, m, nil, f32Margin)
				adapterParity(t, s, m)
			})
		})
	}
}

// tokenParity compares our tokenization of flavorTexts with the server's.
func tokenParity(t *testing.T, s served, m *weights.Model) {
	tok := m.Tokenizer
	for _, text := range flavorTexts(t) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		g, err := s.client.Generate(ctx, s.model, text, ollama.GenerateOptions{NumPredict: 1})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		ids := tok.Encode(text, true)
		if g.PromptEvalCount != len(ids) {
			t.Errorf("%.40q: Ollama counts %d prompt tokens, we count %d", text, g.PromptEvalCount, len(ids))
		}
		want := tok.Encode(text+g.Text, false)
		got := make([]int32, len(g.Context))
		for i, id := range g.Context {
			got[i] = int32(id)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%.40q + %q: Ollama's tokens %v, ours %v", text, g.Text, got, want)
		}
	}
}

// adapterParity deploys a strong random adapter on s and compares greedy continuations with ours.
func adapterParity(t *testing.T, s served, m *weights.Model) {
	a := adapterAll(t, m.Model, false)
	if !changes(t, m, a) {
		t.Fatal("the adapter changes no continuation; make it stronger")
	}
	compare(t, s.withAdapter(t, a, "", "fastslow-parity-lora"), m, a, f32Margin)
}

// TestFlavorsTokenizeDifferently makes sure the two flavors exercise different pre-tokenizer rules on the
// same vocabulary (llama-3 groups up to three digits, qwen2 splits every digit), so that parity on both is
// parity on both rule sets.
func TestFlavorsTokenizeDifferently(t *testing.T) {
	l, err := tinymodel.FlavorTokenizer(tinymodel.Llama32)
	if err != nil {
		t.Fatal(err)
	}
	q, err := tinymodel.FlavorTokenizer(tinymodel.Qwen25)
	if err != nil {
		t.Fatal(err)
	}
	text := "0123456789"
	if a, b := len(l.Encode(text, false)), len(q.Encode(text, false)); a != 4 || b != 10 {
		t.Errorf("%q: llama-3.2 gives %d tokens (want 4), qwen2 %d (want 10)", text, a, b)
	}
}
