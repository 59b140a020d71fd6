package lab

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/fastslow/fastslow/fastslow"
)

// decided reports whether out, the first tokens of a greedy answer, already fixes e.Correct of the whole
// answer, and if so its value. fastslow.Example.Correct reads only the answer's first line: once that line is
// complete, or once its start can no longer begin with the expected text, or once the character after the
// expected text is known, more tokens change nothing.
func decided(e fastslow.Example, out string) (correct, ok bool) {
	if strings.ContainsRune(out, utf8.RuneError) {
		return false, false // a character cut in two: wait for the rest
	}
	t := strings.TrimLeft(out, " \t\r\n")
	if strings.Contains(t, "\n") {
		return e.Correct(out), true
	}
	want := e.Expected()
	if want == "" {
		return false, false
	}
	line := strings.TrimRight(t, " \t\r") // what the line holds so far; more may follow
	switch {
	case strings.HasPrefix(want, line):
		return false, false // the expected text, or a start of it, so far
	case !strings.HasPrefix(line, want):
		return false, true // the line can no longer begin with the expected text
	}
	// The expected text and at least one more character, which Correct reads: the same in the whole answer.
	return e.Correct(line), true
}

// answer is what the server answers to prompt, at most maxTokens tokens, as far as e.Correct can tell: it first
// asks for a few tokens past the expected text's length and asks again for the whole answer only when those
// leave the verdict open (greedy decoding makes the short answer a prefix of the long one, so the verdict is
// the one the whole answer gets). short is the first budget in tokens.
func answer(ctx context.Context, srv fastslow.Server, handle, prompt string, maxTokens, short int, e fastslow.Example) (string, error) {
	if short < maxTokens {
		out, err := srv.Generate(ctx, handle, prompt, short)
		if err != nil {
			return "", err
		}
		if _, ok := decided(e, out); ok {
			return out, nil
		}
	}
	return srv.Generate(ctx, handle, prompt, maxTokens)
}
