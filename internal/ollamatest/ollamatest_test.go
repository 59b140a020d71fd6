package ollamatest

import (
	"regexp"
	"strings"
	"testing"
)

func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"fastslow-TestFoo/sub_case", "fastslow-testfoo-sub_case"},
		{"a//b  c", "a-b-c"},
		{"-x-", "x"},
		{"_x", "t_x"},
		{"", "t"},
		{"Ü", "t"},
		{"v1.2", "v1.2"},
	}
	for _, tt := range tests {
		if got := sanitize(tt.in); got != tt.want {
			t.Errorf("sanitize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// validName is Ollama's rule for the model part of a name.
var validName = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,79}$`)

func TestUniqueName(t *testing.T) {
	a := UniqueName(t, "fastslow-")
	b := UniqueName(t, "fastslow-")
	if a == b {
		t.Errorf("UniqueName returned %q twice", a)
	}
	for _, n := range []string{a, b} {
		if !strings.HasPrefix(n, "fastslow-testuniquename-") || !validName.MatchString(n) {
			t.Errorf("UniqueName = %q, want a valid name with the prefix and the test's name", n)
		}
	}
	long := UniqueName(t, strings.Repeat("x", 200))
	if !validName.MatchString(long) {
		t.Errorf("long UniqueName %q is not a valid model name", long)
	}
}

func TestInCI(t *testing.T) {
	for v, want := range map[string]bool{"true": true, "1": true, "false": false, "": false, "yes": false} {
		t.Setenv("CI", v)
		if got := InCI(); got != want {
			t.Errorf("CI=%q: InCI() = %v, want %v", v, got, want)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"0.6.5", "0.17.4", -1},
		{"0.17.4", "0.6.5", 1},
		{"v0.17.4", "0.17.4", 0},
		{"0.17", "0.17.0", 0},
		{"0.17.4-rc1", "0.17.4", 0},
		{"0.0.0", "0.6.5", -1},
		{"1.0.0", "0.99.99", 1},
	}
	for _, tt := range tests {
		if got := CompareVersions(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
