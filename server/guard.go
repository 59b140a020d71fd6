package server

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Guessing limits: each client address may present a wrong token (Bearer header or login form) guessBurst
// times at once, then once every guessEvery; past that, every request of its that presents a token gets 429
// until the allowance grows back, so a weak token cannot be found by brute force at network speed. Requests
// that present no token are not guesses and are not counted.
const (
	guessBurst   = 30
	guessEvery   = 2 * time.Second
	maxGuessers  = 4096 // client addresses remembered; past it, idle ones are forgotten first
	retryAtLeast = time.Second
)

// guesses is a token bucket of wrong-token allowances per client address (the remote IP: headers such as
// X-Forwarded-For are set by the client and are not trusted).
type guesses struct {
	mu  sync.Mutex
	per map[string]*allowance
	now func() time.Time // time.Now; tests replace it
}

type allowance struct {
	left float64   // wrong tokens allowed now
	at   time.Time // when left was computed
}

func newGuesses() *guesses {
	return &guesses{per: make(map[string]*allowance), now: time.Now}
}

// clientIP is the IP of r's remote address (the address itself when it has no port).
func clientIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// refill brings a's allowance up to now.
func refill(a *allowance, now time.Time) {
	if d := now.Sub(a.at); d > 0 {
		a.left = min(guessBurst, a.left+float64(d)/float64(guessEvery))
		a.at = now
	}
}

// wait is how long ip must wait before it may present a token again (0: it may now).
func (g *guesses) wait(ip string) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	a, ok := g.per[ip]
	if !ok {
		return 0
	}
	now := g.now()
	refill(a, now)
	if a.left >= 1 {
		return 0
	}
	return time.Duration((1 - a.left) * float64(guessEvery))
}

// wrong records a wrong token from ip.
func (g *guesses) wrong(ip string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	a, ok := g.per[ip]
	if !ok {
		if len(g.per) >= maxGuessers {
			g.forgetIdle(now)
		}
		a = &allowance{left: guessBurst, at: now}
		g.per[ip] = a
	}
	refill(a, now)
	a.left = max(0, a.left-1)
}

// forgetIdle drops the addresses whose allowance has grown back whole; if none has, the one that guessed
// longest ago, so the map stays bounded under guesses from many addresses.
func (g *guesses) forgetIdle(now time.Time) {
	var oldest string
	for ip, a := range g.per {
		refill(a, now)
		if a.left >= guessBurst {
			delete(g.per, ip)
			continue
		}
		if oldest == "" || a.at.Before(g.per[oldest].at) {
			oldest = ip
		}
	}
	if len(g.per) >= maxGuessers && oldest != "" {
		delete(g.per, oldest)
	}
}

// retryAfter sets the Retry-After header for wait (whole seconds, at least one) and returns its value.
func retryAfter(w http.ResponseWriter, wait time.Duration) string {
	secs := strconv.Itoa(int((max(wait, retryAtLeast) + time.Second - 1) / time.Second))
	w.Header().Set("Retry-After", secs)
	return secs
}

// tooManyGuesses answers an API request 429 with Retry-After.
func tooManyGuesses(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	secs := retryAfter(w, wait)
	writeError(w, r, http.StatusTooManyRequests, "too many wrong tokens from "+clientIP(r)+"; try again in "+secs+" s")
}
