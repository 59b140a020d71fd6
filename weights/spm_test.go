package weights_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/tokenizer"
)

// TestSaveLoadSentencePiece saves a model with a SentencePiece vocabulary and
// loads it back: the tokenizer is an SPM that encodes the same, and its chat
// end-of-turn token is an end-of-generation token.
func TestSaveLoadSentencePiece(t *testing.T) {
	tokens := []string{"<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>", "<0x0A>", "▁", "h", "i", "hi", "▁hi"}
	for len(tokens) < 64 {
		tokens = append(tokens, string(rune('0'+len(tokens)-12)))
	}
	scores := make([]float32, len(tokens))
	types := make([]int32, len(tokens))
	for i := range tokens {
		scores[i], types[i] = -float32(i), tokenizer.TypeNormal
	}
	types[0], types[1], types[2], types[3], types[4], types[5], types[6] = 3, 3, 3, 2, 3, 3, 6
	tok, err := tokenizer.NewSPM(tokenizer.SPMSpec{Tokens: tokens, Scores: scores, Types: types, BOS: 2, EOS: 1, UNK: 3, AddBOS: true})
	if err != nil {
		t.Fatal(err)
	}
	m, err := llama.New(tinymodel.Config(tok.Size()))
	if err != nil {
		t.Fatal(err)
	}
	m.InitRandom(1, 0.1)
	path := filepath.Join(t.TempDir(), "spm.gguf")
	if err := weights.Save(path, m, tok, weights.SaveOptions{Type: gguf.TypeF16}); err != nil {
		t.Fatal(err)
	}
	got, err := weights.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	spm, ok := got.Tokenizer.(*tokenizer.SPM)
	if !ok {
		t.Fatalf("tokenizer is %T, want *tokenizer.SPM", got.Tokenizer)
	}
	text := "<start_of_turn>hi hi\n01<end_of_turn>"
	if a, b := tok.Encode(text, true), spm.Encode(text, true); !slices.Equal(a, b) || len(a) < 5 {
		t.Errorf("tokens %v after loading, %v before", b, a)
	}
	if want := []int32{1, 5}; !slices.Equal(got.EOG, want) {
		t.Errorf("EOG = %v, want %v (eos and <end_of_turn>)", got.EOG, want)
	}
}
