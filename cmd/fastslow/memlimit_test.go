package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights/gguf"
)

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"", 0, true},
		{"0", 0, true},
		{"1234", 1234, true},
		{"12GB", 12e9, true},
		{"12 gb", 12e9, true},
		{"4G", 4e9, true},
		{"3.5GiB", 3.5 * (1 << 30), true},
		{"512MiB", 512 << 20, true},
		{"100k", 100e3, true},
		{"7b", 7, true},
		{"-1G", 0, false},
		{"lots", 0, false},
		{"GB", 0, false},
		{"1e30", 0, false},
	}
	for _, tt := range tests {
		got, err := parseBytes(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestTrainMemLimit checks train's memory flags end to end: a limit the step cannot fit is refused before
// training with the estimate in the message, a limit between the two estimates turns recomputation on (as
// the JSON summary says), and --recompute trains.
func TestTrainMemLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a tiny model")
	}
	dir := t.TempDir()
	base := filepath.Join(dir, "base.gguf")
	if _, _, err := tinymodel.Write(context.Background(), base, 9, 0.05, gguf.TypeF32); err != nil {
		t.Fatal(err)
	}
	data := factsFile(t, dir, "facts.jsonl", 4)
	env := []string{"FASTSLOW_MODEL=" + base}
	args := []string{"train", "--data", data, "--out", filepath.Join(dir, "a.gguf"), "--steps", "2", "--batch", "2", "--rank", "2"}

	_, stderr, code := runCLI(t, env, append(args, "--mem-limit", "1MB")...)
	if code == 0 || !strings.Contains(stderr, "even with recomputation") {
		t.Fatalf("--mem-limit 1MB: exit %d, %s; want a refusal naming the estimate", code, stderr)
	}
	run := func(extra ...string) (sum struct {
		Steps     int
		Bytes     int64 `json:"memory_estimate_bytes"`
		Recompute bool
	}) {
		t.Helper()
		stdout, stderr, code := runCLI(t, env, append(append(args, "--json"), extra...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", extra, code, stderr)
		}
		if err := json.Unmarshal([]byte(stdout), &sum); err != nil || sum.Steps != 2 || sum.Bytes <= 0 {
			t.Fatalf("%v: summary %q (%v)", extra, stdout, err)
		}
		return sum
	}
	plain, rec := run(), run("--recompute")
	if plain.Recompute || !rec.Recompute || rec.Bytes >= plain.Bytes {
		t.Fatalf("without flags: %+v; --recompute: %+v; want recomputation only with the flag, and a smaller estimate", plain, rec)
	}
	if got := run("--mem-limit", strconv.FormatInt(plain.Bytes-1, 10)); !got.Recompute {
		t.Fatalf("a limit just under the plain estimate did not turn recomputation on: %+v", got)
	}
}
