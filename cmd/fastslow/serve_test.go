package main

import (
	"strings"
	"testing"
)

// TestServeRefuses: the command's own refusals and their exit codes, before anything listens.
func TestServeRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
		msg  string
	}{
		{"non-loopback without a token", nil, []string{"serve", "--addr", "0.0.0.0:0"}, exitUsage, "needs a token"},
		{"bad address", nil, []string{"serve", "--addr", "nonsense"}, exitUsage, "serve_addr"},
		{"bad body limit", nil, []string{"serve", "--max-body", "0"}, exitUsage, "max_body"},
		{"no Ollama", nil, []string{"serve", "--host", "127.0.0.1:1", "--addr", "127.0.0.1:0"}, exitUnreachable, "Ollama"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, tc.env, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) {
				t.Errorf("fastslow %v: exit %d, stderr %q; want exit %d saying %q", tc.args, code, stderr, tc.code, tc.msg)
			}
		})
	}
}
