// Package config is the configuration of the fastslow command: the settings its commands share, their
// defaults and documentation, and where each effective value came from.
//
// A value comes from, in increasing precedence: the built-in default, the configuration file, the
// environment (FASTSLOW_<KEY>, e.g. FASTSLOW_NUM_CTX) and a command-line flag. The file is the one named
// with --config (it must exist), else ./fastslow.yaml, else <home>/fastslow.yaml, whichever exists first;
// home itself comes from --home, FASTSLOW_HOME or ~/.fastslow. The file is YAML with flat keys:
//
//	host: 127.0.0.1:11434
//	policy: fst
//	rank: 8
//	targets: [attn_q, attn_v]
//
// Unknown keys and invalid values are errors (*Error) naming the key and where the value came from,
// so a typo never silently falls back to a default. Viper reads the file, the environment and the
// flags; this package adds the checks and the bookkeeping of sources that viper lacks.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// FileName is the configuration file looked for in the working directory and in the home directory.
const FileName = "fastslow.yaml"

// EnvPrefix starts every environment variable that sets a key: EnvPrefix + upper-case key.
const EnvPrefix = "FASTSLOW_"

// Errors an *Error wraps, for errors.Is.
var (
	// ErrUnknownKey means the configuration file has a key no setting has.
	ErrUnknownKey = errors.New("unknown key")
	// ErrInvalid means a value has the wrong type or is out of range.
	ErrInvalid = errors.New("invalid value")
	// ErrFile means the configuration file is missing or unreadable.
	ErrFile = errors.New("bad configuration file")
)

// Error is a configuration problem: which key (if any), where the offending value came from, and what is
// wrong. It wraps ErrUnknownKey, ErrInvalid or ErrFile.
type Error struct {
	Key    string // empty for file errors
	Source Source
	Kind   error  // ErrUnknownKey, ErrInvalid or ErrFile
	Value  string // the offending value as written, for ErrInvalid
	Detail string
}

// Error implements error.
func (e *Error) Error() string {
	switch e.Kind {
	case ErrUnknownKey:
		return fmt.Sprintf("%s: unknown key %q%s", e.Source.Path, e.Key, e.Detail)
	case ErrFile:
		return fmt.Sprintf("config file %s: %s", e.Source.Path, e.Detail)
	}
	if e.Value == "" {
		return fmt.Sprintf("invalid %s (%s): %s", e.Key, e.Source, e.Detail)
	}
	return fmt.Sprintf("invalid %s %s (%s): %s", e.Key, e.Value, e.Source, e.Detail)
}

// Unwrap returns the kind of error.
func (e *Error) Unwrap() error { return e.Kind }

// SourceKind says which layer a value came from.
type SourceKind string

// The layers, from lowest to highest precedence.
const (
	FromDefault SourceKind = "default"
	FromFile    SourceKind = "file"
	FromEnv     SourceKind = "env"
	FromFlag    SourceKind = "flag"
)

// Source is where one value came from: the kind of layer and, for a file, its path, for the
// environment, the variable, and for a flag, its name.
type Source struct {
	Kind SourceKind
	Path string // file path, variable name or flag name; empty for built-in defaults
}

// String is "default", "file:PATH", "env:VAR" or "flag:--NAME".
func (s Source) String() string {
	if s.Path == "" {
		return string(s.Kind)
	}
	if s.Kind == FromFlag {
		return "flag:--" + s.Path
	}
	return string(s.Kind) + ":" + s.Path
}

// MarshalText makes a Source appear as its String in JSON.
func (s Source) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Value is one setting's effective value and its source.
type Value struct {
	Key    string `json:"key"`
	Value  any    `json:"value"`
	Source Source `json:"source"`
}

// Loaded is the effective configuration: typed values, the file that was read, and every value's source.
type Loaded struct {
	Config
	// File is the configuration file read, empty if none was found.
	File string
	// Searched lists the files looked for when none was named, in order.
	Searched []string
	// Values holds every setting's value and source, in Settings order.
	Values []Value
}

// Source returns where key's value came from.
func (l *Loaded) Source(key string) Source {
	for _, v := range l.Values {
		if v.Key == key {
			return v.Source
		}
	}
	return Source{}
}

// Options say where Load looks.
type Options struct {
	// File is the configuration file named on the command line; it must exist. Empty means search.
	File string
	// Dir is where ./fastslow.yaml is looked for; empty means the working directory.
	Dir string
	// Flags holds the parsed flags; those made by AddFlag or AddFlagAs set their keys when given.
	Flags *pflag.FlagSet
}

// flagKeyAnnotation marks a flag with the key it sets.
const flagKeyAnnotation = "fastslow-config-key"

// Load resolves every setting from defaults, the configuration file, the environment and the flags.
func Load(opt Options) (*Loaded, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	l := &Loaded{}

	// Home decides where the file is searched, so it is resolved from the layers above the file first.
	flags := boundFlags(opt.Flags)
	file, searched, err := findFile(opt, flags)
	if err != nil {
		return nil, err
	}
	l.File, l.Searched = file, searched
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, &Error{Source: Source{FromFile, file}, Kind: ErrFile, Detail: readProblem(err)}
		}
		if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
			return nil, &Error{Source: Source{FromFile, file}, Kind: ErrFile, Detail: parseProblem(err)}
		}
		// Before defaults and flags are registered, AllKeys is exactly the file's keys.
		for _, k := range v.AllKeys() {
			if _, ok := Lookup(k); !ok {
				return nil, &Error{Key: k, Source: Source{FromFile, file}, Kind: ErrUnknownKey, Detail: suggest(k)}
			}
			if v.Get(k) == nil {
				return nil, &Error{Key: k, Source: Source{FromFile, file}, Kind: ErrInvalid, Detail: "the key has no value (YAML reads an empty value or ~ as none; quote it)"}
			}
		}
	}
	v.SetEnvPrefix(strings.TrimSuffix(EnvPrefix, "_"))
	v.AutomaticEnv()
	for _, s := range settings {
		v.SetDefault(s.Key, s.defaultValue())
	}
	for key, f := range flags {
		if err := v.BindPFlag(key, f); err != nil {
			return nil, fmt.Errorf("config: bind flag --%s: %w", f.Name, err)
		}
	}

	for _, s := range settings {
		src := sourceOf(v, s, flags, file)
		raw := v.Get(s.Key)
		val, err := s.convert(raw)
		if err == nil && s.check != nil {
			err = s.check(val)
		}
		if err != nil {
			return nil, &Error{Key: s.Key, Source: src, Kind: ErrInvalid, Value: quoteRaw(raw), Detail: err.Error()}
		}
		if s.path {
			val = expandHome(val.(string))
		}
		shown := val
		if s.secret && val != "" {
			shown = "(set)"
		}
		l.Values = append(l.Values, Value{Key: s.Key, Value: shown, Source: src})
		s.set(&l.Config, val)
	}
	return l, nil
}

// boundFlags returns the parsed flags that set a key, by key.
func boundFlags(fs *pflag.FlagSet) map[string]*pflag.Flag {
	out := map[string]*pflag.Flag{}
	if fs == nil {
		return out
	}
	fs.VisitAll(func(f *pflag.Flag) {
		if k := f.Annotations[flagKeyAnnotation]; len(k) == 1 {
			out[k[0]] = f
		}
	})
	return out
}

// findFile returns the configuration file to read ("" if none) and the paths searched.
func findFile(opt Options, flags map[string]*pflag.Flag) (string, []string, error) {
	if opt.File != "" {
		if _, err := os.Stat(opt.File); err != nil {
			return "", nil, &Error{Source: Source{FromFile, opt.File}, Kind: ErrFile, Detail: readProblem(err)}
		}
		return opt.File, nil, nil
	}
	home := defaultHome()
	if s := os.Getenv(EnvPrefix + "HOME"); s != "" {
		home = s
	}
	if f := flags["home"]; f != nil && f.Changed {
		home = f.Value.String()
	}
	dir := opt.Dir
	if dir == "" {
		dir = "." // named absolutely below, so that messages say which directory was meant
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	candidates := []string{filepath.Join(dir, FileName), filepath.Join(expandHome(home), FileName)}
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			return c, candidates, nil
		}
	}
	return "", candidates, nil
}

// sourceOf mirrors viper's precedence to name where s's value comes from.
func sourceOf(v *viper.Viper, s Setting, flags map[string]*pflag.Flag, file string) Source {
	if f := flags[s.Key]; f != nil && f.Changed {
		return Source{FromFlag, f.Name}
	}
	if os.Getenv(s.Env()) != "" { // viper ignores empty variables
		return Source{FromEnv, s.Env()}
	}
	if file != "" && v.InConfig(s.Key) {
		return Source{FromFile, file}
	}
	if s.defaultSource != nil {
		if src := s.defaultSource(); src != "" {
			return Source{FromEnv, src}
		}
	}
	return Source{Kind: FromDefault}
}

func readProblem(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// parseProblem shortens viper's "While parsing config: yaml: ..." to the YAML error.
func parseProblem(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "yaml: "); i >= 0 {
		msg = msg[i:]
	}
	return "not valid YAML: " + msg
}

func quoteRaw(raw any) string {
	switch r := raw.(type) {
	case string:
		return fmt.Sprintf("%q", r)
	case []any, []string:
		return fmt.Sprintf("%v", r)
	}
	return fmt.Sprint(raw)
}

// suggest names the closest known key, if one is close enough to be a typo.
func suggest(key string) string {
	best, bestD := "", 3
	for _, s := range settings {
		if d := editDistance(key, s.Key); d < bestD {
			best, bestD = s.Key, d
		}
	}
	if best == "" {
		return " (known keys: " + strings.Join(Keys(), ", ") + ")"
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// AddFlag defines on fs the flag that sets key: named after the key (underscores become dashes), typed,
// with the setting's default and documentation. It panics on an unknown key: that is a programming error.
func AddFlag(fs *pflag.FlagSet, key string) {
	AddFlagAs(fs, strings.ReplaceAll(key, "_", "-"), key, "")
}

// AddFlagAs is AddFlag with another flag name and, if usage is not empty, another usage text, for a
// command whose flag means the key in its own words (e.g. train's --base sets model).
func AddFlagAs(fs *pflag.FlagSet, name, key, usage string) {
	s, ok := Lookup(key)
	if !ok {
		panic("config: AddFlag: unknown key " + key)
	}
	if usage == "" {
		usage = s.Doc
	}
	usage += " [" + s.Env() + "]"
	// The flag's own default is only shown in help (Load takes defaults from the settings), and a default
	// taken from the environment is explained by the usage text instead.
	def := s.defaultValue()
	if s.defaultSource != nil {
		def = reflect.Zero(reflect.TypeOf(def)).Interface()
	}
	switch s.Kind {
	case KindString:
		fs.String(name, def.(string), usage)
	case KindInt:
		fs.Int(name, def.(int), usage)
	case KindFloat:
		fs.Float64(name, def.(float64), usage)
	case KindList:
		fs.StringSlice(name, def.([]string), usage)
	}
	if err := fs.SetAnnotation(name, flagKeyAnnotation, []string{key}); err != nil {
		panic("config: " + err.Error())
	}
}

// FlagKey returns the key a flag made by AddFlag or AddFlagAs sets, or "".
func FlagKey(f *pflag.Flag) string {
	if k := f.Annotations[flagKeyAnnotation]; len(k) == 1 {
		return k[0]
	}
	return ""
}

// Keys lists every key, in Settings order.
func Keys() []string {
	out := make([]string, len(settings))
	for i, s := range settings {
		out[i] = s.Key
	}
	return out
}

// Lookup returns the setting of key.
func Lookup(key string) (Setting, bool) {
	i := slices.IndexFunc(settings, func(s Setting) bool { return s.Key == key })
	if i < 0 {
		return Setting{}, false
	}
	return settings[i], true
}

// Settings returns every setting, in a stable order.
func Settings() []Setting { return slices.Clone(settings) }
