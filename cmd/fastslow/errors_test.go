package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
)

// TestBadInput: each mistake gives one clear message, a documented exit code, and leaves nothing behind.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.gguf")
	m, _, err := tinymodel.Write(context.Background(), base, 3, 0.05, gguf.TypeF32)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.gguf")
	if err := os.WriteFile(truncated, raw[:len(raw)-1000], 0o644); err != nil {
		t.Fatal(err)
	}
	malformed := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(malformed, []byte("{\"prompt\":\"a\",\"completion\":\" b\"}\n{\"prompt\": \"oops\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.jsonl")
	writeJSONL(t, good, facts()[:2])
	a, err := llama.NewAdapter(m, llama.LoRAConfig{Rank: 2, Targets: []string{"attn_q"}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	adapter := filepath.Join(dir, "a.gguf")
	if err := weights.SaveAdapter(adapter, a, ""); err != nil {
		t.Fatal(err)
	}
	// A closed loopback port: nothing listens there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	out := filepath.Join(dir, "out.gguf")

	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown flag", []string{"train", "--bogus"}, exitUsage, "unknown flag: --bogus"},
		{"unknown command", []string{"fly"}, exitUsage, "unknown command"},
		{"missing out", []string{"train", "--base", base, "--data", good}, exitUsage, "--out is required"},
		{"malformed jsonl line", []string{"train", "--base", base, "--data", malformed, "--out", out}, exitFailure, "bad.jsonl:2"},
		{"missing data file", []string{"score", "--model", base, "--data", filepath.Join(dir, "none.jsonl")}, exitUsage, "none.jsonl"},
		{"truncated model", []string{"generate", "--model", truncated, "hello"}, exitFailure, "truncated.gguf"},
		{"adapter as model", []string{"generate", "--model", adapter, "hello"}, exitFailure, "is a LoRA adapter"},
		{"ollama unreachable", []string{"deploy", "--base", base, "--adapter", adapter, "--host", closed}, exitUnreachable, "not reachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, nil, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, stderr, tt.code, tt.want)
			}
			if n := strings.Count(strings.TrimSpace(stderr), "\n"); n > 1 {
				t.Errorf("want one clear message, got %d lines: %s", n+1, stderr)
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatalf("a failed command left %s behind", out)
			}
		})
	}
}
