package tokenizer_test

import (
	"context"
	"fmt"
	"log"

	"github.com/fastslow/fastslow/weights/tokenizer"
)

func Example() {
	corpus := []string{
		"Anna was born in Lisbon. Anna lives in Lisbon.",
		"Boris was born in Osaka. Boris lives in Osaka.",
	}
	tok, err := tokenizer.Train(context.Background(), corpus, tokenizer.TrainOptions{VocabSize: 300})
	if err != nil {
		log.Fatal(err)
	}
	ids := tok.Encode("Anna was born in Osaka.<|eos|>", true)
	var pieces []string
	for _, id := range ids {
		pieces = append(pieces, tok.Piece(id))
	}
	fmt.Printf("%q\n", pieces)
	fmt.Println(tok.Decode(ids))

	// The vocabulary travels as GGUF metadata and comes back identical.
	md := map[string]any{}
	for _, kv := range tok.Metadata() {
		md[kv.Key] = kv.Value
	}
	back, err := tokenizer.FromMetadata(func(key string) (any, bool) { v, ok := md[key]; return v, ok })
	if err != nil {
		log.Fatal(err)
	}
	// This tiny corpus runs out of pairs before 300 tokens.
	fmt.Println(back.Size(), back.Encode("Anna", false))
	// Output:
	// ["<|bos|>" "Anna" " was" " born" " in" " Osaka" "." "<|eos|>"]
	// <|bos|>Anna was born in Osaka.<|eos|>
	// 291 [282]
}

// countTokens works with any model's tokenizer, byte-level BPE or SentencePiece.
func countTokens(tok tokenizer.Tokenizer, text string) int { return len(tok.Encode(text, false)) }

func ExampleTokenizer() {
	tok, err := tokenizer.Train(context.Background(), []string{"to be or not to be"}, tokenizer.TrainOptions{VocabSize: 270})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(countTokens(tok, "to be"), tok.Decode(tok.Encode("to be", false)))
	// Output:
	// 2 to be
}

func ExampleNewSPM() {
	tok, err := tokenizer.NewSPM(tokenizer.SPMSpec{
		Tokens: []string{"<unk>", "<s>", "</s>", "▁", "h", "i", "hi", "▁hi"},
		Scores: []float32{0, 0, 0, -1, -2, -2, -3, -4},
		BOS:    1, EOS: 2, UNK: 0, AddBOS: true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ids := tok.Encode("hi hi", true)
	fmt.Println(ids, tok.Decode(ids))
	// Output: [1 6 7] <s>hi hi
}

func ExampleLoad() {
	// GGUF metadata of a (tiny) SentencePiece vocabulary, as a GGUF reader returns it.
	meta := map[string]any{
		"tokenizer.ggml.model":            "llama",
		"tokenizer.ggml.tokens":           []string{"<unk>", "<s>", "</s>", "<0x0A>", "▁", "a", "b", "▁a", "ab"},
		"tokenizer.ggml.scores":           []float32{0, 0, 0, 0, -1, -2, -2, -3, -4},
		"tokenizer.ggml.token_type":       []int32{2, 3, 3, 6, 1, 1, 1, 1, 1},
		"tokenizer.ggml.add_space_prefix": false,
	}
	tok, err := tokenizer.Load(func(key string) (any, bool) { v, ok := meta[key]; return v, ok })
	if err != nil {
		fmt.Println(err)
		return
	}
	ids := tok.Encode("ab a\n", true)
	fmt.Printf("%T %v %q\n", tok, ids, tok.Decode(ids))
	// Output: *tokenizer.SPM [1 8 7 3] "<s>ab a\n"
}
