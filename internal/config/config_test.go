package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// isolate clears every variable Load reads and points home at an empty directory, so the test sees only
// what it sets. It returns the home directory.
func isolate(t *testing.T) string {
	t.Helper()
	for _, s := range settings {
		t.Setenv(s.Env(), "") // empty counts as unset, for viper and for Load
	}
	t.Setenv("OLLAMA_HOST", "")
	home := t.TempDir()
	t.Setenv(EnvPrefix+"HOME", home)
	return home
}

// flagSet returns a flag set with a flag for every key, parsed from args.
func flagSet(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	for _, k := range Keys() {
		AddFlag(fs, k)
	}
	fs.String("unrelated", "", "a flag that sets no key")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func writeFile(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, FileName)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	home := isolate(t)
	l, err := Load(Options{Dir: t.TempDir(), Flags: flagSet(t)})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Host: "127.0.0.1:11434", Home: home, Model: "", Policy: "fst", NumThread: 0, NumCtx: 512,
		Rank: 8, Alpha: 16, Targets: []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"},
		Steps: 60, LR: 5e-3, Batch: 8, Budget: 0.05, Deploy: "auto", MergedType: "same", Keep: 3, Out: "fastslow-report",
		ServeAddr: "127.0.0.1:11435", MaxBody: 1 << 20,
	}
	if !reflect.DeepEqual(l.Config, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", l.Config, want)
	}
	if l.File != "" {
		t.Errorf("read %s, want no file", l.File)
	}
	for _, v := range l.Values {
		want := Source{Kind: FromDefault}
		if v.Key == "home" {
			want = Source{FromEnv, "FASTSLOW_HOME"}
		}
		if v.Source != want {
			t.Errorf("%s: source %v, want %v", v.Key, v.Source, want)
		}
	}
	if len(l.Values) != len(Keys()) {
		t.Errorf("%d values for %d keys", len(l.Values), len(Keys()))
	}
}

// TestPrecedence: flag over environment over file over default, each value naming its source.
func TestPrecedence(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	file := writeFile(t, dir, "host: 10.0.0.1:1\nsteps: 10\nrank: 4\npolicy: weights\ntargets: [attn_q, v_proj]\nlr: 1e-4\n")
	t.Setenv("FASTSLOW_STEPS", "20")
	t.Setenv("FASTSLOW_RANK", "6")
	t.Setenv("FASTSLOW_BATCH", "3")
	t.Setenv("OLLAMA_HOST", "10.0.0.2:2") // a default: the file wins over it
	l, err := Load(Options{Dir: dir, Flags: flagSet(t, "--rank", "16", "--budget=0.1")})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key    string
		value  any
		source string
	}{
		{"host", "10.0.0.1:1", "file:" + file},
		{"steps", 20, "env:FASTSLOW_STEPS"},
		{"rank", 16, "flag:--rank"},
		{"budget", 0.1, "flag:--budget"},
		{"batch", 3, "env:FASTSLOW_BATCH"},
		{"policy", "weights", "file:" + file},
		{"targets", []string{"attn_q", "v_proj"}, "file:" + file},
		{"lr", 1e-4, "file:" + file},
		{"num_ctx", 512, "default"},
	}
	for _, tt := range tests {
		i := indexOf(l.Values, tt.key)
		if i < 0 {
			t.Fatalf("no value for %s", tt.key)
		}
		v := l.Values[i]
		if !reflect.DeepEqual(v.Value, tt.value) || v.Source.String() != tt.source {
			t.Errorf("%s = %#v from %s, want %#v from %s", tt.key, v.Value, v.Source, tt.value, tt.source)
		}
	}
	if l.Rank != 16 || l.Steps != 20 || l.Policy != "weights" {
		t.Errorf("typed config disagrees with values: %+v", l.Config)
	}
}

func indexOf(vs []Value, key string) int {
	for i, v := range vs {
		if v.Key == key {
			return i
		}
	}
	return -1
}

// TestDefaultFromOllamaHost: without any other setting, host follows OLLAMA_HOST and says so.
func TestDefaultFromOllamaHost(t *testing.T) {
	isolate(t)
	t.Setenv("OLLAMA_HOST", " 127.0.0.1:11500 ")
	l, err := Load(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if l.Host != "127.0.0.1:11500" || l.Source("host").String() != "env:OLLAMA_HOST" {
		t.Errorf("host %q from %v", l.Host, l.Source("host"))
	}
	t.Setenv("FASTSLOW_HOST", "127.0.0.1:9")
	if l, err = Load(Options{Dir: t.TempDir()}); err != nil || l.Host != "127.0.0.1:9" {
		t.Errorf("FASTSLOW_HOST should win over OLLAMA_HOST: %v %v", l, err)
	}
}

// TestFileSearch: --config, then ./fastslow.yaml, then <home>/fastslow.yaml, with home from the flag.
func TestFileSearch(t *testing.T) {
	home := isolate(t)
	cwd := t.TempDir()
	homeFile := writeFile(t, home, "rank: 2\n")

	l, err := Load(Options{Dir: cwd})
	if err != nil || l.File != homeFile || l.Rank != 2 {
		t.Fatalf("home file: %v, read %q, rank %d", err, l.File, l.Rank)
	}
	localFile := writeFile(t, cwd, "rank: 3\n")
	if l, err = Load(Options{Dir: cwd}); err != nil || l.File != localFile || l.Rank != 3 {
		t.Fatalf("local file first: %v, read %q, rank %d", err, l.File, l.Rank)
	}
	other := t.TempDir()
	named := filepath.Join(other, "x.conf") // any name: the file is YAML whatever its extension
	if err := os.WriteFile(named, []byte("rank: 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if l, err = Load(Options{Dir: cwd, File: named}); err != nil || l.File != named || l.Rank != 5 {
		t.Fatalf("named file: %v, read %q, rank %d", err, l.File, l.Rank)
	}
	// --home moves the search.
	os.Remove(localFile)
	otherHomeFile := writeFile(t, other, "rank: 7\n")
	if l, err = Load(Options{Dir: cwd, Flags: flagSet(t, "--home", other)}); err != nil || l.File != otherHomeFile || l.Rank != 7 {
		t.Fatalf("--home: %v, read %q, rank %d", err, l.File, l.Rank)
	}
}

func TestTilde(t *testing.T) {
	isolate(t)
	t.Setenv(EnvPrefix+"HOME", "") // let the file set home
	dir := t.TempDir()
	writeFile(t, dir, "out: ~/reports\nhome: \"~\"\n")
	l, err := Load(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := os.UserHomeDir()
	if l.Out != filepath.Join(h, "reports") || l.Home != h {
		t.Errorf("out %q, home %q; want both under %q", l.Out, l.Home, h)
	}
}

// TestErrors: every bad input is an *Error of the right kind whose message names the key and the source.
func TestErrors(t *testing.T) {
	tests := []struct {
		name  string
		file  string // contents of ./fastslow.yaml, if any
		env   map[string]string
		flags []string
		named string // --config
		kind  error
		want  []string // substrings of the message
	}{
		{"unknown key", "hots: x\n", nil, nil, "", ErrUnknownKey, []string{`unknown key "hots"`, FileName, `did you mean "host"?`}},
		{"unknown nested key", "lora:\n  rank: 4\n", nil, nil, "", ErrUnknownKey, []string{`"lora.rank"`, "known keys: host"}},
		{"null value", "model:\n", nil, nil, "", ErrInvalid, []string{"model", "no value"}},
		{"tilde alone", "home: ~\n", nil, nil, "", ErrInvalid, []string{"home", "quote it"}},
		{"bad policy in file", "policy: foo\n", nil, nil, "", ErrInvalid, []string{`policy "foo"`, "file:", "want one of fst, weights, prompts"}},
		{"negative steps in env", "", map[string]string{"FASTSLOW_STEPS": "-3"}, nil, "", ErrInvalid, []string{`steps "-3"`, "env:FASTSLOW_STEPS", "at least 1"}},
		{"non-integer in env", "", map[string]string{"FASTSLOW_RANK": "eight"}, nil, "", ErrInvalid, []string{"rank", "env:FASTSLOW_RANK", "want an integer"}},
		{"fractional steps in file", "steps: 1.5\n", nil, nil, "", ErrInvalid, []string{"steps 1.5", "want an integer"}},
		{"text for a number", "lr: fast\n", nil, nil, "", ErrInvalid, []string{`lr "fast"`, "want a number"}},
		{"bad flag value", "", nil, []string{"--batch", "0"}, "", ErrInvalid, []string{"batch", "flag:--batch", "at least 1"}},
		{"budget out of range", "budget: 2\n", nil, nil, "", ErrInvalid, []string{"budget 2", "between 0 and 1"}},
		{"target the owner refuses", "targets: [attn_q, bogus]\n", nil, nil, "", ErrInvalid, []string{"targets", `unknown target "bogus"`}},
		{"list for a string", "host: [a, b]\n", nil, nil, "", ErrInvalid, []string{"host", "want a string"}},
		{"map for a list", "targets: {a: 1}\n", nil, nil, "", ErrUnknownKey, []string{`"targets.a"`}},
		{"negative threads", "num_thread: -1\n", nil, nil, "", ErrInvalid, []string{"num_thread -1", "must not be negative"}},
		{"missing named file", "", nil, nil, "none.yaml", ErrFile, []string{"none.yaml", "no such file"}},
		{"bad yaml", "rank: [1\n", nil, nil, "", ErrFile, []string{FileName, "not valid YAML"}},
		{"not a mapping", "- a\n- b\n", nil, nil, "", ErrFile, []string{FileName, "not valid YAML"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			dir := t.TempDir()
			if tt.file != "" {
				writeFile(t, dir, tt.file)
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			named := ""
			if tt.named != "" {
				named = filepath.Join(dir, tt.named)
			}
			l, err := Load(Options{Dir: dir, File: named, Flags: flagSet(t, tt.flags...)})
			if err == nil {
				t.Fatalf("no error; config %+v", l.Config)
			}
			var ce *Error
			if !errors.As(err, &ce) || !errors.Is(err, tt.kind) {
				t.Fatalf("error %v (%T), want an *Error wrapping %v", err, err, tt.kind)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestAddFlagAs(t *testing.T) {
	isolate(t)
	fs := pflag.NewFlagSet("train", pflag.ContinueOnError)
	AddFlagAs(fs, "base", "model", "base model GGUF file")
	if err := fs.Parse([]string{"--base", "/m.gguf"}); err != nil {
		t.Fatal(err)
	}
	if k := FlagKey(fs.Lookup("base")); k != "model" {
		t.Fatalf("FlagKey = %q", k)
	}
	if !strings.Contains(fs.Lookup("base").Usage, "FASTSLOW_MODEL") {
		t.Errorf("usage %q does not name the variable", fs.Lookup("base").Usage)
	}
	l, err := Load(Options{Dir: t.TempDir(), Flags: fs})
	if err != nil {
		t.Fatal(err)
	}
	if l.Model != "/m.gguf" || l.Source("model").String() != "flag:--base" {
		t.Errorf("model %q from %v", l.Model, l.Source("model"))
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"host", "host", 0}, {"hots", "host", 2}, {"stpes", "steps", 2}, {"", "abc", 3}, {"kitten", "sitting", 3}}
	for _, tt := range tests {
		if d := editDistance(tt.a, tt.b); d != tt.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, d, tt.d)
		}
	}
}

// TestSecretNotShown: serve_token reaches the Config but never the printable Values ('fastslow config').
func TestSecretNotShown(t *testing.T) {
	isolate(t)
	t.Setenv("FASTSLOW_SERVE_TOKEN", "s3cret")
	l, err := Load(Options{Dir: t.TempDir(), Flags: flagSet(t)})
	if err != nil {
		t.Fatal(err)
	}
	if l.ServeToken != "s3cret" {
		t.Errorf("ServeToken = %q, want the environment's", l.ServeToken)
	}
	for _, v := range l.Values {
		if v.Key == "serve_token" && v.Value != "(set)" {
			t.Errorf("serve_token shown as %v, want (set)", v.Value)
		}
	}
}
