// Package session turns a server's access token into browser login sessions for the dashboard: a person posts
// the token once to a login form and the browser keeps a cookie that holds a session value derived with HMAC
// from the token — never the token itself — which every later page load carries.
//
// A session value is a random id and an expiry, signed with HMAC-SHA256 under a key derived from the token:
// any holder of the token (the server and the dashboard behind it) can check it without shared state, a new
// token invalidates every session, and a logout revokes its id in the Keeper that saw it.
package session

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Cookie is the name of the session cookie.
const Cookie = "fastslow_session"

// TTL is how long a session lasts after its login.
const TTL = 12 * time.Hour

// Keeper issues and checks the sessions of one token. It is safe for concurrent use.
type Keeper struct {
	token [sha256.Size]byte // the token's digest, for constant-time comparison of any length
	key   []byte
	now   func() time.Time

	mu      sync.Mutex
	revoked map[string]time.Time // session ids logged out, until they expire
}

// New returns the Keeper of token, which must not be empty.
func New(token string) (*Keeper, error) {
	if token == "" {
		return nil, errors.New("session: empty token")
	}
	mac := hmac.New(sha256.New, []byte(token))
	mac.Write([]byte("fastslow dashboard session key v1"))
	return &Keeper{token: sha256.Sum256([]byte(token)), key: mac.Sum(nil), now: time.Now, revoked: map[string]time.Time{}}, nil
}

// CheckToken reports whether got is the token, in constant time (its length included).
func (k *Keeper) CheckToken(got string) bool {
	g := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(g[:], k.token[:]) == 1
}

// Login sets a new session cookie on w: HttpOnly, SameSite=Strict, Secure when r came over TLS, for TTL.
func (k *Keeper) Login(w http.ResponseWriter, r *http.Request) error {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return err
	}
	payload := make([]byte, 0, 24)
	payload = append(payload, id[:]...)
	payload = binary.BigEndian.AppendUint64(payload, uint64(k.now().Add(TTL).Unix()))
	value := enc.EncodeToString(payload) + "." + enc.EncodeToString(k.sign(payload))
	http.SetCookie(w, k.cookie(r, value, int(TTL/time.Second)))
	return nil
}

// Valid reports whether r carries a session cookie this token signed that has neither expired nor been
// logged out.
func (k *Keeper) Valid(r *http.Request) bool {
	id, ok := k.check(r)
	if !ok {
		return false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	_, out := k.revoked[id]
	return !out
}

// Logout revokes r's session, if it has a valid one, and clears the cookie.
func (k *Keeper) Logout(w http.ResponseWriter, r *http.Request) {
	if id, ok := k.check(r); ok {
		now := k.now()
		k.mu.Lock()
		for i, until := range k.revoked {
			if !until.After(now) {
				delete(k.revoked, i)
			}
		}
		k.revoked[id] = now.Add(TTL)
		k.mu.Unlock()
	}
	http.SetCookie(w, k.cookie(r, "", -1))
}

var enc = base64.RawURLEncoding

func (k *Keeper) sign(payload []byte) []byte {
	mac := hmac.New(sha256.New, k.key)
	mac.Write(payload)
	return mac.Sum(nil)
}

// check verifies r's cookie and returns its session id.
func (k *Keeper) check(r *http.Request) (string, bool) {
	c, err := r.Cookie(Cookie)
	if err != nil {
		return "", false
	}
	p, s, ok := strings.Cut(c.Value, ".")
	if !ok {
		return "", false
	}
	payload, err := enc.DecodeString(p)
	if err != nil || len(payload) != 24 {
		return "", false
	}
	sig, err := enc.DecodeString(s)
	if err != nil || !hmac.Equal(sig, k.sign(payload)) {
		return "", false
	}
	if k.now().Unix() >= int64(binary.BigEndian.Uint64(payload[16:])) {
		return "", false
	}
	return string(payload[:16]), true
}

func (k *Keeper) cookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: Cookie, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	}
}
