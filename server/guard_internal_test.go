package server

import (
	"fmt"
	"testing"
	"time"
)

// TestGuesses: an address may present guessBurst wrong tokens, then must wait guessEvery per further one;
// other addresses are not affected, and the table of addresses stays bounded.
func TestGuesses(t *testing.T) {
	now := time.Unix(1e9, 0)
	g := newGuesses()
	g.now = func() time.Time { return now }

	for i := range guessBurst {
		if w := g.wait("192.0.2.1"); w != 0 {
			t.Fatalf("after %d wrong tokens: wait %v, want none", i, w)
		}
		g.wrong("192.0.2.1")
	}
	if w := g.wait("192.0.2.1"); w != guessEvery {
		t.Fatalf("after %d wrong tokens: wait %v, want %v", guessBurst, w, guessEvery)
	}
	if w := g.wait("192.0.2.2"); w != 0 {
		t.Errorf("another address: wait %v, want none", w)
	}
	now = now.Add(guessEvery / 2)
	if w := g.wait("192.0.2.1"); w != guessEvery/2 {
		t.Errorf("half the interval later: wait %v, want %v", w, guessEvery/2)
	}
	now = now.Add(guessEvery / 2)
	if w := g.wait("192.0.2.1"); w != 0 {
		t.Errorf("a whole interval later: wait %v, want none", w)
	}
	g.wrong("192.0.2.1")
	if w := g.wait("192.0.2.1"); w != guessEvery {
		t.Errorf("one more wrong token: wait %v, want %v", w, guessEvery)
	}

	for i := range maxGuessers + 10 {
		g.wrong(fmt.Sprintf("10.0.%d.%d", i/256, i%256))
	}
	if len(g.per) > maxGuessers {
		t.Errorf("%d addresses remembered, want at most %d", len(g.per), maxGuessers)
	}
}
