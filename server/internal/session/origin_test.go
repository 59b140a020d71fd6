package session

import (
	"net/http/httptest"
	"testing"
)

// TestSameOrigin: a request passes with neither Origin nor Referer or with one naming its own host (in any
// case), and is refused for another host or port, Origin null, or an origin without a host.
func TestSameOrigin(t *testing.T) {
	cases := []struct {
		name, host, header, value string
		ok                        bool
	}{
		{"neither header", "127.0.0.1:9", "", "", true},
		{"same origin", "127.0.0.1:9", "Origin", "http://127.0.0.1:9", true},
		{"same origin, other case", "localhost:9", "Origin", "http://LOCALHOST:9", true},
		{"same referer", "127.0.0.1:9", "Referer", "http://127.0.0.1:9/tasks", true},
		{"other origin", "127.0.0.1:9", "Origin", "http://evil.example", false},
		{"other port", "127.0.0.1:9", "Origin", "http://127.0.0.1:10", false},
		{"other referer", "127.0.0.1:9", "Referer", "http://evil.example/x", false},
		{"null origin", "127.0.0.1:9", "Origin", "null", false},
		{"no host", "127.0.0.1:9", "Origin", "/relative", false},
		{"unreadable", "127.0.0.1:9", "Origin", "http://%zz", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "http://"+tc.host+"/login", nil)
			if tc.header != "" {
				r.Header.Set(tc.header, tc.value)
			}
			if err := SameOrigin(r); (err == nil) != tc.ok {
				t.Fatalf("SameOrigin with %s %q = %v, want ok %v", tc.header, tc.value, err, tc.ok)
			}
		})
	}
}
