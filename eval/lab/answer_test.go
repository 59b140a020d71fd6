package lab

import (
	"testing"

	"github.com/fastslow/fastslow/fastslow"
)

// TestDecided checks the early verdict against the oracle, fastslow.Example.Correct of the whole answer: on
// every prefix of every answer, a decided verdict must be the whole answer's.
func TestDecided(t *testing.T) {
	tests := []struct {
		want string
		outs []string
	}{
		{"Veltmor", []string{" Veltmor", " Veltmor.", " Veltmor. She studied", " Veltmor and more", " Veltmore", "\n\n Veltmor\nnext",
			" Velt", " Paris. She", " veltmor", " Veltmor )", " Veltmor)", "Veltmor\t", " Veltmor  x", "  \n", ""}},
		{"New York", []string{" New York.", " New Yorker", " New", " New  York", " New York, 1990"}},
		{"[Zoë]", []string{" [Zoë]", " [Zo", " [Zoe]", " [Zoë]x"}},
	}
	for _, tt := range tests {
		e := fastslow.Example{Prompt: "Q", Answer: tt.want}
		for _, full := range tt.outs {
			whole := e.Correct(full)
			for i := 0; i <= len(full); i++ {
				if got, ok := decided(e, full[:i]); ok && got != whole {
					t.Errorf("want %q, answer %q: its prefix %q decided %v, the whole answer is %v", tt.want, full, full[:i], got, whole)
				}
			}
			if _, ok := decided(e, full); !ok && (len(full) > len(tt.want)+3) && whole {
				t.Logf("want %q, answer %q: undecided (asks again)", tt.want, full)
			}
		}
	}
	// Decided early where it saves tokens.
	e := fastslow.Example{Prompt: "Q", Answer: "Veltmor"}
	for _, c := range []struct {
		out     string
		correct bool
	}{{" Paris", false}, {" Veltmor. She", true}, {" Veltmor\n", true}, {" Veltmorx", false}} {
		if got, ok := decided(e, c.out); !ok || got != c.correct {
			t.Errorf("%q: decided %v, %v; want %v, true", c.out, got, ok, c.correct)
		}
	}
}
