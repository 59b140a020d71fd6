package fastslow

import (
	"strings"
	"testing"
)

func TestParseDeployMode(t *testing.T) {
	tests := []struct {
		in   string
		want DeployMode
		err  bool
	}{
		{"", DeployAuto, false},
		{"auto", DeployAuto, false},
		{"adapter", DeployAdapter, false},
		{"merged", DeployMerged, false},
		{"Merged", "", true},
		{"lora", "", true},
	}
	for _, tt := range tests {
		got, err := ParseDeployMode(tt.in)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("ParseDeployMode(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.err)
		}
		if err != nil && !strings.Contains(err.Error(), "auto, adapter, merged") {
			t.Errorf("ParseDeployMode(%q): error %q does not list the modes", tt.in, err)
		}
	}
}

func TestOllamaAppliesAdapters(t *testing.T) {
	for arch, want := range map[string]bool{
		"llama": true, "qwen2": true, "gemma2": true, "phi3": true,
		"qwen3": false, "gemma3": false, "mistral3": false, "llama4": false, "gptoss": false,
	} {
		if got, why := OllamaAppliesAdapters(arch); got != want || !strings.Contains(why, arch) {
			t.Errorf("OllamaAppliesAdapters(%q) = %v (%s), want %v", arch, got, why, want)
		}
	}
}
