package tinymodel

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/fastslow/fastslow/internal/ollamamod"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/tokenizer"
)

// GemmaTokenizer returns gemma's real SentencePiece vocabulary (256000 tokens, the tokenizer.model in the
// ollama module's testdata) typed as Ollama's converter types it (tokenizer.FromSentencePiece), built once
// per process.
var GemmaTokenizer = sync.OnceValues(func() (*tokenizer.SPM, error) {
	path, err := ollamamod.Testdata("gemma2/tokenizer.model")
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tinymodel: gemma tokenizer: %w", err)
	}
	return tokenizer.FromSentencePiece(data)
})

// WriteGemma3 creates a random gemma3 text model (Gemma3Config over GemmaTokenizer's 256000 tokens, about
// 66M parameters, nearly all in the tied embedding) and saves it to path with matrices of type typ.
func WriteGemma3(ctx context.Context, path string, seed uint64, std float32, typ gguf.Type) (*llama.Model, *tokenizer.SPM, error) {
	tok, err := GemmaTokenizer()
	if err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	m, err := writeArch(path, Gemma3Config(tok.Size()), tok, seed, std, "tiny-gemma3-", typ)
	if err != nil {
		return nil, nil, err
	}
	return m, tok, nil
}
