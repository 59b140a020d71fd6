package ollama_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/internal/ollamatest"
)

// TestGenerateOnText: with OnText the server streams; the pieces make the text Generate returns, which is
// the text of the same generation without streaming, and an error from OnText ends the generation with it.
func TestGenerateOnText(t *testing.T) {
	c := ollamatest.Client(t)
	ctx := context.Background()
	name, _ := newBase(t, c, 3)
	g := ollama.GenerateOptions{NumPredict: 8, Raw: true}
	whole, err := c.Generate(ctx, name, "a b c", g)
	if err != nil {
		t.Fatal(err)
	}
	var pieces []string
	g.OnText = func(s string) error { pieces = append(pieces, s); return nil }
	streamed, err := c.Generate(ctx, name, "a b c", g)
	if err != nil {
		t.Fatal(err)
	}
	if streamed.Text != whole.Text || strings.Join(pieces, "") != whole.Text || len(pieces) < 2 {
		t.Errorf("streamed %q in pieces %q, want %q in more than one", streamed.Text, pieces, whole.Text)
	}
	stop := errors.New("enough")
	g.OnText = func(string) error { return stop }
	if _, err := c.Generate(ctx, name, "a b c", g); !errors.Is(err, stop) {
		t.Errorf("OnText's error: got %v, want it wrapped", err)
	}
}
