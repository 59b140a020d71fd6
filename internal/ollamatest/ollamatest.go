// Package ollamatest connects tests to a real Ollama server.
//
// Tests that need Ollama call [Client]: it returns a client for the server
// named by OLLAMA_HOST, skips the test when there is none, and fails it
// instead when CI=true, because in CI a missing Ollama is a broken set-up,
// not a reason to test less. `bash .ci/run` builds and starts a server and
// sets OLLAMA_HOST for the whole suite.
//
// Models a test creates should be named with [UniqueName], which deletes them
// when the test ends.
//
// CI runs the Ollama-facing packages against every server version the project
// supports (today v0.6.5 and v0.17.4). A test whose expectation depends on the
// server's version asks [Version] or [RequireVersion].
package ollamatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastslow/fastslow/adapters/ollama"
)

// pingTimeout bounds the reachability check; a local server answers in
// milliseconds.
const pingTimeout = 5 * time.Second

// InCI reports whether the tests run in CI (CI=true, as CI systems set it).
func InCI() bool {
	v, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && v
}

// Client returns a client for the Ollama server at OLLAMA_HOST, with the
// project's default options. If OLLAMA_HOST is unset or the server does not
// answer, the test is skipped, or failed when running in CI.
func Client(t testing.TB) *ollama.Client {
	t.Helper()
	c, reason := connect()
	if reason != "" {
		if InCI() {
			t.Fatalf("ollamatest: %s (CI=true: a missing Ollama is a failure; `bash .ci/run` starts one)", reason)
		}
		t.Skipf("ollamatest: %s; skipping (run `bash .ci/run`, or start `ollama serve` and set OLLAMA_HOST)", reason)
	}
	return c
}

// Version returns the version of the server at OLLAMA_HOST as it reports it
// (e.g. "0.17.4"), connecting as [Client] does. A build without a version
// stamp reports "0.0.0"; the project's builds are stamped (.ci/build-ollama).
func Version(t testing.TB) string {
	t.Helper()
	c := Client(t)
	versionOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
		defer cancel()
		versionValue, versionErr = c.Version(ctx)
	})
	if versionErr != nil {
		t.Fatalf("ollamatest: server version: %v", versionErr)
	}
	return versionValue
}

// RequireVersion skips the test, with the reason, unless the server's version
// is at least minVersion ("0.17.0"). Unlike a missing server, an older server
// is a supported configuration, so the skip holds in CI too.
func RequireVersion(t testing.TB, minVersion, reason string) {
	t.Helper()
	v := Version(t)
	if CompareVersions(v, minVersion) < 0 {
		t.Skipf("ollamatest: server %s is older than %s: %s", v, minVersion, reason)
	}
}

// CompareVersions compares dotted numeric versions ("0.6.5" < "0.17.4"); a
// leading "v" and any pre-release suffix ("-rc1") are ignored, and a missing
// or non-numeric part counts as 0.
func CompareVersions(a, b string) int {
	pa, pb := versionParts(a), versionParts(b)
	for i := range max(len(pa), len(pb)) {
		var x, y int
		if i < len(pa) {
			x = pa[i]
		}
		if i < len(pb) {
			y = pb[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

func versionParts(v string) []int {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	if i := strings.IndexAny(v, "-+ "); i >= 0 {
		v = v[:i]
	}
	var out []int
	for _, f := range strings.Split(v, ".") {
		n, err := strconv.Atoi(f)
		if err != nil {
			n = 0
		}
		out = append(out, n)
	}
	return out
}

var (
	versionOnce  sync.Once
	versionValue string
	versionErr   error
)

var (
	connectOnce   sync.Once
	connectClient *ollama.Client
	connectReason string
)

// connect checks the server once per test binary: if it is down, every test
// says so quickly instead of each waiting for a timeout.
func connect() (*ollama.Client, string) {
	connectOnce.Do(func() {
		host := strings.TrimSpace(os.Getenv("OLLAMA_HOST"))
		if host == "" {
			connectReason = "OLLAMA_HOST is not set"
			return
		}
		c, err := ollama.New(host, ollama.Options{})
		if err != nil {
			connectReason = err.Error()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
		defer cancel()
		if err := c.Ping(ctx); err != nil {
			connectReason = err.Error()
			return
		}
		connectClient = c
	})
	return connectClient, connectReason
}

// UniqueName returns a model name no other test uses: prefix, the test's
// name and a random suffix, valid as an Ollama model name. When the test
// ends, the model of that name is deleted if it exists.
func UniqueName(t testing.TB, prefix string) string {
	t.Helper()
	var suffix [4]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		t.Fatalf("ollamatest: random name: %v", err)
	}
	tail := "-" + hex.EncodeToString(suffix[:])
	name := sanitize(prefix + t.Name())
	const maxLen = 80 // Ollama's limit for the model part of a name
	if len(name) > maxLen-len(tail) {
		name = name[:maxLen-len(tail)]
	}
	name += tail
	DeleteOnCleanup(t, name)
	return name
}

// DeleteOnCleanup deletes the model name from the server at OLLAMA_HOST when
// the test ends, if it exists then.
func DeleteOnCleanup(t testing.TB, name string) {
	t.Helper()
	t.Cleanup(func() {
		c, reason := connect()
		if c == nil {
			// Nothing was created on a server we cannot reach.
			t.Logf("ollamatest: not deleting %q: %s", name, reason)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Delete(ctx, name); err != nil && !errors.Is(err, ollama.ErrModelNotFound) {
			t.Errorf("ollamatest: cleanup: %v", err)
		}
	})
}

// ModelDigest returns the digest the server lists for the model name (its latest tag), failing t when the
// server does not list it.
func ModelDigest(t testing.TB, c *ollama.Client, name string) string {
	t.Helper()
	ms, err := c.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Name == name+":latest" {
			return m.Digest
		}
	}
	t.Fatalf("%s not on the server", name)
	return ""
}

// FileDigest is ollama.FileDigest (the server's name for the file as a blob, "sha256:" and 64 hex digits),
// failing t on error.
func FileDigest(t testing.TB, path string) string {
	t.Helper()
	d, err := ollama.FileDigest(path)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// ClosedAddr returns a loopback address nothing listens on: an Ollama that is not running.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// SilentServer returns the address of a loopback listener that accepts connections and never answers, until
// t ends: what a stopped (SIGSTOP) Ollama looks like to a client, since the kernel completes the handshake for
// a listening socket whatever its process does.
func SilentServer(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// sanitize maps s to the characters Ollama allows in a model name
// (lower-case letters, digits, '-', '_', '.'), starting with a letter or digit.
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	out := b.String()
	for strings.Contains(out, "--") {
		out = strings.ReplaceAll(out, "--", "-")
	}
	out = strings.Trim(out, "-.")
	if out == "" || out[0] == '_' {
		out = "t" + out
	}
	return out
}
