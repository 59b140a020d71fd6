package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/internal/config"
	"github.com/fastslow/fastslow/internal/ollamatest"
)

func writeConfig(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "fastslow.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestExitCodes: every kind of mistake a user or a script makes gives one clear message and its documented
// exit code.
func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	unknownKey := writeConfig(t, t.TempDir(), "host: 127.0.0.1:11434\nstpes: 10\n")
	badPolicy := writeConfig(t, t.TempDir(), "policy: foo\n")
	badYAML := writeConfig(t, t.TempDir(), "rank: [8\n")
	closed := ollamatest.ClosedAddr(t)

	tests := []struct {
		name string
		env  []string
		args []string
		code int
		want []string // substrings of stderr
	}{
		{"unknown flag", nil, []string{"config", "--stpes", "3"}, exitUsage, []string{"unknown flag: --stpes"}},
		{"unknown command", nil, []string{"modles"}, exitUsage, []string{`unknown command "modles" for "fastslow" (did you mean models?)`}},
		{"missing argument", nil, []string{"prompts", "show"}, exitUsage, []string{"accepts 1 arg(s), received 0"}},
		{"unknown config key", nil, []string{"config", "--config", unknownKey}, exitUsage,
			[]string{unknownKey, `unknown key "stpes"`, `did you mean "steps"?`}},
		{"invalid value in file", nil, []string{"models", "--config", badPolicy}, exitUsage,
			[]string{`invalid policy "foo"`, "file:" + badPolicy, "want one of fst, weights, prompts, replay"}},
		{"unknown target", []string{"FASTSLOW_TARGETS=attn_q,attn_z"}, []string{"config"}, exitUsage, []string{"targets", `unknown lora target "attn_z"`}},
		{"bad scheme", []string{"FASTSLOW_HOST=ftp://x"}, []string{"config"}, exitUsage, []string{`host "ftp://x" (env:FASTSLOW_HOST): unsupported scheme "ftp"`}},
		{"bad port", nil, []string{"config", "--host", "127.0.0.1:99999"}, exitUsage, []string{"host", `invalid port "99999"`}},
		{"invalid value in env", []string{"FASTSLOW_STEPS=-5"}, []string{"config"}, exitUsage,
			[]string{`invalid steps "-5"`, "env:FASTSLOW_STEPS", "at least 1"}},
		{"invalid value in flag", nil, []string{"train", "--rank", "0"}, exitUsage, []string{"invalid rank 0", "flag:--rank", "at least 1"}},
		{"flag of the wrong type", nil, []string{"train", "--steps", "many"}, exitUsage, []string{`invalid argument "many" for "--steps"`}},
		{"unparsable config file", nil, []string{"config", "--config", badYAML}, exitUsage, []string{badYAML, "not valid YAML"}},
		{"missing config file", nil, []string{"config", "--config", filepath.Join(dir, "none.yaml")}, exitUsage,
			[]string{"config file " + filepath.Join(dir, "none.yaml") + ": no such file"}},
		{"missing config file from env", []string{"FASTSLOW_CONFIG=" + filepath.Join(dir, "gone.yaml")}, []string{"models"}, exitUsage,
			[]string{"gone.yaml: no such file"}},
		{"missing data file", nil, []string{"score", "--model", filepath.Join(dir, "m.gguf"), "--data", filepath.Join(dir, "none.jsonl")}, exitUsage,
			[]string{"none.jsonl"}},
		{"missing model file", nil, []string{"generate", "--model", filepath.Join(dir, "none.gguf"), "hi"}, exitUsage, []string{"none.gguf"}},
		{"ollama down (flag)", nil, []string{"models", "--host", closed}, exitUnreachable, []string{"not reachable at http://" + closed}},
		{"ollama down (env)", []string{"OLLAMA_HOST=" + closed}, []string{"models", "rm", "fastslow-x"}, exitUnreachable, []string{"not reachable"}},
		{"ollama down resolving a model name", []string{"FASTSLOW_HOST=" + closed}, []string{"generate", "--model", "some-model:latest", "hi"}, exitUnreachable,
			[]string{`model "some-model:latest" is not a file here`, "not reachable"}},
		{"foreign model", nil, []string{"models", "rm", "fastslow-ok", "llama3.2:1b"}, exitUsage, []string{`refusing to delete "llama3.2:1b"`}},
		{"no prompt store", nil, []string{"prompts", "show", "qa"}, exitFailure, []string{"no prompt store yet"}},
		{"bad candidate id", nil, []string{"prompts", "promote", "qa", "x"}, exitUsage, []string{`candidate "x": want a candidate id`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, tt.env, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tt.code, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not say %q", stderr, w)
				}
			}
			// One message: the error, plus at most one line of advice.
			if n := strings.Count(strings.TrimSpace(stderr), "\n"); n > 1 {
				t.Errorf("want one clear message, got %d lines: %s", n+1, stderr)
			}
			if stdout != "" {
				t.Errorf("a failed command printed results: %q", stdout)
			}
		})
	}
}

// configOutput is `fastslow config --json`.
type configOutput struct {
	File     string   `json:"file"`
	Searched []string `json:"searched"`
	Settings map[string]struct {
		Value  any    `json:"value"`
		Source string `json:"source"`
	} `json:"settings"`
}

func readConfig(t *testing.T, env []string, args ...string) configOutput {
	t.Helper()
	var out configOutput
	runJSON(t, env, &out, append([]string{"config", "--json"}, args...)...)
	return out
}

// TestConfigPrecedence: a flag wins over the environment, which wins over the file, which wins over the
// default; `fastslow config --json` names each value's source.
func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := writeConfig(t, dir, "host: 127.0.0.1:7001\nsteps: 10\nrank: 4\nbatch: 2\npolicy: prompts\ntargets: [attn_q, attn_v]\n")
	env := []string{"FASTSLOW_STEPS=20", "FASTSLOW_RANK=6", "FASTSLOW_HOST=127.0.0.1:7002", "OLLAMA_HOST=127.0.0.1:7003"}
	out := readConfig(t, env, "--config", file, "--rank", "16", "--host", "127.0.0.1:7004")

	tests := []struct {
		key    string
		value  any
		source string
	}{
		{"rank", 16.0, "flag:--rank"},             // flag > env > file
		{"host", "127.0.0.1:7004", "flag:--host"}, // a global flag
		{"steps", 20.0, "env:FASTSLOW_STEPS"},     // env > file
		{"batch", 2.0, "file:" + file},            // file > default
		{"policy", "prompts", "file:" + file},     // file > default
		{"targets", []any{"attn_q", "attn_v"}, "file:" + file},
		{"lr", fastslow.DefaultSlowOptions().LR, "default"},
		{"num_ctx", 512.0, "default"},
	}
	if out.File != file {
		t.Errorf("file %q, want %q", out.File, file)
	}
	if want := len(config.Settings()); len(out.Settings) != want {
		t.Errorf("%d settings, want %d: %v", len(out.Settings), want, out.Settings)
	}
	for _, tt := range tests {
		got, ok := out.Settings[tt.key]
		if !ok {
			t.Errorf("no setting %q", tt.key)
			continue
		}
		if !reflect.DeepEqual(got.Value, tt.value) || got.Source != tt.source {
			t.Errorf("%s = %v from %s, want %v from %s", tt.key, got.Value, got.Source, tt.value, tt.source)
		}
	}

	// Without a flag or FASTSLOW_HOST, the file's host wins over OLLAMA_HOST, which only sets the default.
	out = readConfig(t, []string{"OLLAMA_HOST=127.0.0.1:7003"}, "--config", file)
	if h := out.Settings["host"]; h.Value != "127.0.0.1:7001" || h.Source != "file:"+file {
		t.Errorf("host %v from %s, want the file's", h.Value, h.Source)
	}
	out = readConfig(t, []string{"OLLAMA_HOST=127.0.0.1:7003"})
	if h := out.Settings["host"]; h.Value != "127.0.0.1:7003" || h.Source != "env:OLLAMA_HOST" {
		t.Errorf("host %v from %s, want OLLAMA_HOST's", h.Value, h.Source)
	}
}

// TestConfigFileSearch: $FASTSLOW_HOME/fastslow.yaml is read when there is no ./fastslow.yaml, and the text
// output names the file and every source.
func TestConfigFileSearch(t *testing.T) {
	home := t.TempDir()
	file := writeConfig(t, home, "budget: 0.2\n")
	out := readConfig(t, []string{"FASTSLOW_HOME=" + home})
	if out.File != file || out.Settings["budget"].Value != 0.2 || out.Settings["home"].Source != "env:FASTSLOW_HOME" {
		t.Errorf("read %q: budget %v, home from %s", out.File, out.Settings["budget"].Value, out.Settings["home"].Source)
	}
	stdout, _, code := runCLI(t, []string{"FASTSLOW_HOME=" + home}, "config", "--steps", "7")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"config file: " + file, "budget", "file:" + file, "flag:--steps", "(embedded default)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("config output lacks %q:\n%s", want, stdout)
		}
	}
}

// TestHelpDocumentsExitCodes: scripts can find the exit codes in --help.
func TestHelpDocumentsExitCodes(t *testing.T) {
	stdout, _, code := runCLI(t, nil, "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"Exit codes:", "2    usage or configuration error", "3    Ollama is not reachable", "130  interrupted", "fastslow config"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

// TestDefaultsFromOwners: the configuration accepts exactly the registry's policies, and its defaults are the
// learner's and the Ollama client's (package config depends on neither).
func TestDefaultsFromOwners(t *testing.T) {
	if got, want := config.Policies(), fastslow.PolicyNames(); !reflect.DeepEqual(got, want) {
		t.Errorf("config.Policies() = %v, fastslow.PolicyNames() = %v", got, want)
	}
	d := fastslow.DefaultOptions()
	for key, want := range map[string]any{
		"policy": d.Policy.Name(), "rank": d.Slow.LoRA.Rank, "alpha": float64(d.Slow.LoRA.Alpha), "steps": d.Slow.Steps,
		"lr": d.Slow.LR, "batch": d.Slow.BatchSize, "budget": d.Budget, "num_ctx": ollama.DefaultNumCtx,
		"targets": d.Slow.LoRA.Targets,
	} {
		if s, _ := config.Lookup(key); !reflect.DeepEqual(s.Default(), want) {
			t.Errorf("default %s = %v, the owner says %v", key, s.Default(), want)
		}
	}
}
