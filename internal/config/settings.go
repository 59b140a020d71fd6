package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config holds the effective value of every setting.
type Config struct {
	Host       string   // host: the Ollama server
	Home       string   // home: fastslow's state directory (prompt store, adapters)
	Model      string   // model: base model, a GGUF path or an Ollama model name; "" is the embedded default
	Policy     string   // policy: a name of the policy registry (fst, weights, prompts, ...)
	NumThread  int      // num_thread: Ollama runner threads; 0 is automatic
	NumCtx     int      // num_ctx: Ollama context window in tokens
	Rank       int      // rank: LoRA rank
	Alpha      float64  // alpha: LoRA alpha
	Targets    []string // targets: projections the LoRA adapts
	Steps      int      // steps: optimizer steps per training run
	LR         float64  // lr: peak learning rate
	Batch      int      // batch: sequences per optimizer step
	Budget     float64  // budget: forgetting budget
	Deploy     string   // deploy: how versions are served (auto, adapter, merged)
	MergedType string   // merged_type: encoding of the adapted tensors of a merged model (same, f16, f32)
	Keep       int      // keep: merged versions kept deployed and on disk
	Out        string   // out: report directory
	Timeout    string   // timeout: deadline of each Ollama request, a Go duration ("5m")
	MaxLine    int      // max_line: longest line of a JSONL input, in bytes; 0 is the reader's default
	ServeAddr  string   // serve_addr: where 'fastslow serve' listens, host:port
	ServeToken string   // serve_token: the token 'fastslow serve' requires on every route ("" none)
	MaxBody    int      // max_body: largest request body 'fastslow serve' accepts, in bytes
}

// Owned is what the packages that own the settings say about them: the default value of every setting whose
// meaning lives in another package (the Ollama client's address and context window, the learner's policy,
// adapter shape, training and forgetting budget), the valid policy names (from the policy registry), and
// checks only those packages can make. Package config depends on none of them: the program installs their
// word once with SetDefaults, before it defines flags or loads (cmd/fastslow does it in an init function).
// Home, Model, NumThread and Out are this package's own: their fields here are ignored.
type Owned struct {
	Defaults Config
	// Policies are the valid values of policy, DeployModes of deploy, MergedTypes of merged_type.
	Policies, DeployModes, MergedTypes []string
	// CheckHost and CheckTargets, if set, judge a host address and a list of LoRA targets.
	CheckHost    func(string) error
	CheckTargets func([]string) error
}

var owned Owned

// SetDefaults installs the owners' defaults and checks.
func SetDefaults(o Owned) {
	o.Defaults.Targets = slices.Clone(o.Defaults.Targets)
	o.Policies = slices.Clone(o.Policies)
	o.DeployModes = slices.Clone(o.DeployModes)
	o.MergedTypes = slices.Clone(o.MergedTypes)
	owned = o
}

// Policies returns the valid values of policy, as installed by SetDefaults.
func Policies() []string { return slices.Clone(owned.Policies) }

// Kind is the type of a setting's value.
type Kind int

// The kinds of values.
const (
	KindString Kind = iota
	KindInt
	KindFloat
	KindList // a list of strings: a YAML list, or comma-separated in the environment and on flags
)

// String names the kind as the documentation does.
func (k Kind) String() string {
	switch k {
	case KindString:
		return "string"
	case KindInt:
		return "int"
	case KindFloat:
		return "float"
	case KindList:
		return "list"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Setting is one configuration key.
type Setting struct {
	Key  string
	Kind Kind
	Doc  string

	def           func() any    // the default; a function because some depend on the environment
	defaultSource func() string // the environment variable the default came from, if any
	check         func(any) error
	set           func(*Config, any)
	path          bool // a leading ~ means the user's home directory
	secret        bool // the value is never shown (Loaded.Values holds "(set)" or "")
}

// Env is the environment variable that sets the key, e.g. FASTSLOW_NUM_CTX.
func (s Setting) Env() string { return EnvPrefix + strings.ToUpper(s.Key) }

// Default is the value used when nothing sets the key.
func (s Setting) Default() any { return s.defaultValue() }

func (s Setting) defaultValue() any {
	v := s.def()
	if l, ok := v.([]string); ok {
		return slices.Clone(l)
	}
	return v
}

var settings = []Setting{
	{
		Key: "host", Kind: KindString,
		Doc: "Ollama server address, host:port or URL (default: $OLLAMA_HOST, else the Ollama client's default)",
		def: func() any {
			if h := ollamaHost(); h != "" {
				return h
			}
			return owned.Defaults.Host
		},
		defaultSource: func() string {
			if ollamaHost() != "" {
				return "OLLAMA_HOST"
			}
			return ""
		},
		check: func(v any) error {
			if err := nonEmpty(v); err != nil {
				return err
			}
			if owned.CheckHost != nil {
				return owned.CheckHost(v.(string))
			}
			return nil
		},
		set: func(c *Config, v any) { c.Host = v.(string) },
	},
	{
		Key: "home", Kind: KindString, path: true,
		Doc:   "fastslow's state directory: the prompt store (HOME/prompts) and adapter versions",
		def:   func() any { return defaultHome() },
		check: nonEmpty,
		set:   func(c *Config, v any) { c.Home = v.(string) },
	},
	{
		Key: "model", Kind: KindString, path: true,
		Doc: "base model: a GGUF file or an Ollama model name (empty: the embedded default model)",
		def: func() any { return "" },
		set: func(c *Config, v any) { c.Model = v.(string) },
	},
	{
		Key: "policy", Kind: KindString,
		Doc:   "what learns: a policy of the registry (fst: prompts first, then a few weight steps; weights; prompts; ...)",
		def:   func() any { return owned.Defaults.Policy },
		check: oneOf(func() []string { return owned.Policies }),
		set:   func(c *Config, v any) { c.Policy = v.(string) },
	},
	{
		Key: "num_thread", Kind: KindInt,
		Doc:   "CPU threads of Ollama's runner per request (0: 1 on machines with 2 cores or less, else the server's choice)",
		def:   func() any { return 0 },
		check: atLeast(0),
		set:   func(c *Config, v any) { c.NumThread = v.(int) },
	},
	{
		Key: "num_ctx", Kind: KindInt,
		Doc:   "context window Ollama's runner allocates, in tokens",
		def:   func() any { return owned.Defaults.NumCtx },
		check: atLeast(1),
		set:   func(c *Config, v any) { c.NumCtx = v.(int) },
	},
	{
		Key: "rank", Kind: KindInt,
		Doc:   "LoRA rank",
		def:   func() any { return owned.Defaults.Rank },
		check: atLeast(1),
		set:   func(c *Config, v any) { c.Rank = v.(int) },
	},
	{
		Key: "alpha", Kind: KindFloat,
		Doc: "LoRA alpha: the update is scaled by alpha/rank (0: a scale of 1)",
		def: func() any { return owned.Defaults.Alpha },
		check: func(v any) error {
			if f := v.(float64); f < 0 || f > math.MaxFloat32 {
				return errors.New("must be zero or positive")
			}
			return nil
		},
		set: func(c *Config, v any) { c.Alpha = v.(float64) },
	},
	{
		Key: "targets", Kind: KindList,
		Doc: "projections the LoRA adapts, GGUF (attn_q, ..., ffn_down) or PEFT (q_proj, ...) names",
		def: func() any { return owned.Defaults.Targets },
		check: func(v any) error {
			if owned.CheckTargets != nil {
				return owned.CheckTargets(v.([]string))
			}
			return nil
		},
		set: func(c *Config, v any) { c.Targets = v.([]string) },
	},
	{
		Key: "steps", Kind: KindInt,
		Doc:   "optimizer steps of a training run (and of a weight-only learning round)",
		def:   func() any { return owned.Defaults.Steps },
		check: atLeast(1),
		set:   func(c *Config, v any) { c.Steps = v.(int) },
	},
	{
		Key: "lr", Kind: KindFloat,
		Doc: "peak learning rate",
		def: func() any { return owned.Defaults.LR },
		check: func(v any) error {
			if v.(float64) <= 0 {
				return errors.New("must be positive")
			}
			return nil
		},
		set: func(c *Config, v any) { c.LR = v.(float64) },
	},
	{
		Key: "batch", Kind: KindInt,
		Doc:   "sequences per optimizer step",
		def:   func() any { return owned.Defaults.Batch },
		check: atLeast(1),
		set:   func(c *Config, v any) { c.Batch = v.(int) },
	},
	{
		Key: "budget", Kind: KindFloat,
		Doc: "forgetting budget: the largest drop of retention accuracy a weight update may cause, in [0, 1]",
		def: func() any { return owned.Defaults.Budget },
		check: func(v any) error {
			if f := v.(float64); f < 0 || f > 1 {
				return errors.New("must be between 0 and 1")
			}
			return nil
		},
		set: func(c *Config, v any) { c.Budget = v.(float64) },
	},
	{
		Key: "deploy", Kind: KindString,
		Doc:   "how learned weights are served: adapter (base + LoRA adapter), merged (the adapter folded into a whole model; every Ollama version and engine), auto (adapter where the server applies it, else merged)",
		def:   func() any { return owned.Defaults.Deploy },
		check: oneOf(func() []string { return owned.DeployModes }),
		set:   func(c *Config, v any) { c.Deploy = v.(string) },
	},
	{
		Key: "merged_type", Kind: KindString,
		Doc:   "encoding of the adapted tensors of a merged model: same (each in the base's type, e.g. Q4_K stays Q4_K), f16 or f32",
		def:   func() any { return owned.Defaults.MergedType },
		check: oneOf(func() []string { return owned.MergedTypes }),
		set:   func(c *Config, v any) { c.MergedType = v.(string) },
	},
	{
		Key: "keep", Kind: KindInt,
		Doc:   "merged versions kept deployed and on disk (each is a whole model); older ones are removed",
		def:   func() any { return owned.Defaults.Keep },
		check: atLeast(1),
		set:   func(c *Config, v any) { c.Keep = v.(int) },
	},
	{
		Key: "out", Kind: KindString, path: true,
		Doc:   "directory the forgetting lab writes its report to",
		def:   func() any { return "fastslow-report" },
		check: nonEmpty,
		set:   func(c *Config, v any) { c.Out = v.(string) },
	},
	{
		Key: "timeout", Kind: KindString,
		Doc: "deadline of each Ollama request, e.g. 90s or 5m (blob uploads and creates get 6 times as long, at least 30m)",
		def: func() any { return owned.Defaults.Timeout },
		check: func(v any) error {
			if v.(string) == "" {
				return nil // the Ollama client's default
			}
			if d, err := time.ParseDuration(v.(string)); err != nil || d <= 0 {
				return errors.New("must be a positive duration such as 90s or 5m")
			}
			return nil
		},
		set: func(c *Config, v any) { c.Timeout = v.(string) },
	},
	{
		Key: "max_line", Kind: KindInt,
		Doc:   "longest line of a JSONL input file, in bytes: a longer one is refused before it is parsed",
		def:   func() any { return owned.Defaults.MaxLine },
		check: atLeast(0),
		set:   func(c *Config, v any) { c.MaxLine = v.(int) },
	},
	{
		Key: "serve_addr", Kind: KindString,
		Doc: "where 'fastslow serve' listens, host:port; a non-loopback host needs serve_token",
		def: func() any { return "127.0.0.1:11435" },
		check: func(v any) error {
			if _, _, err := net.SplitHostPort(v.(string)); err != nil {
				return errors.New("must be host:port, e.g. 127.0.0.1:11435")
			}
			return nil
		},
		set: func(c *Config, v any) { c.ServeAddr = v.(string) },
	},
	{
		Key: "serve_token", Kind: KindString, secret: true,
		Doc: "token 'fastslow serve' requires on every route (Authorization: Bearer TOKEN); empty: none, loopback only",
		def: func() any { return "" },
		set: func(c *Config, v any) { c.ServeToken = v.(string) },
	},
	{
		Key: "max_body", Kind: KindInt,
		Doc:   "largest request body 'fastslow serve' accepts, in bytes (a larger one gets 413)",
		def:   func() any { return 1 << 20 },
		check: atLeast(1),
		set:   func(c *Config, v any) { c.MaxBody = v.(int) },
	},
}

func ollamaHost() string { return strings.TrimSpace(os.Getenv("OLLAMA_HOST")) }

// defaultHome is ~/.fastslow, or .fastslow in the working directory when there is no home directory.
func defaultHome() string {
	h, err := os.UserHomeDir()
	if err != nil || h == "" {
		return ".fastslow"
	}
	return filepath.Join(h, ".fastslow")
}

// expandHome replaces a leading "~" (alone or before a separator) with the user's home directory: values
// in a file or after --flag= are not expanded by a shell.
func expandHome(p string) string {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p
	}
	h, err := os.UserHomeDir()
	if err != nil || h == "" {
		return p
	}
	return filepath.Join(h, p[1:])
}

// oneOf checks that a string is one of names(), read when the value is checked (owners install the names
// through SetDefaults).
func oneOf(names func() []string) func(any) error {
	return func(v any) error {
		if !slices.Contains(names(), v.(string)) {
			return fmt.Errorf("want one of %s", strings.Join(names(), ", "))
		}
		return nil
	}
}

// nonEmpty checks that a string is not empty.
func nonEmpty(v any) error {
	if v.(string) == "" {
		return errors.New("must not be empty")
	}
	return nil
}

func atLeast(n int) func(any) error {
	return func(v any) error {
		if v.(int) < n {
			if n == 0 {
				return errors.New("must not be negative")
			}
			return fmt.Errorf("must be at least %d", n)
		}
		return nil
	}
}

// convert turns a raw value from viper (a YAML scalar or list, an environment string, a flag's value) into
// the setting's Go type, refusing anything that is not exactly of that type.
func (s Setting) convert(raw any) (any, error) {
	switch s.Kind {
	case KindString:
		switch r := raw.(type) {
		case string:
			return strings.TrimSpace(r), nil
		case int, int64, float64, bool:
			return fmt.Sprint(r), nil
		}
		return nil, errors.New("want a string")
	case KindInt:
		switch r := raw.(type) {
		case int:
			return r, nil
		case int64:
			if r > math.MaxInt32 || r < math.MinInt32 {
				return nil, errors.New("out of range")
			}
			return int(r), nil
		case float64:
			if r != math.Trunc(r) || math.Abs(r) > math.MaxInt32 {
				return nil, errors.New("want an integer")
			}
			return int(r), nil
		case string:
			n, err := strconv.Atoi(strings.TrimSpace(r))
			if err != nil {
				return nil, errors.New("want an integer")
			}
			return n, nil
		}
		return nil, errors.New("want an integer")
	case KindFloat:
		var f float64
		switch r := raw.(type) {
		case int:
			f = float64(r)
		case int64:
			f = float64(r)
		case float64:
			f = r
		case string:
			var err error
			if f, err = strconv.ParseFloat(strings.TrimSpace(r), 64); err != nil {
				return nil, errors.New("want a number")
			}
		default:
			return nil, errors.New("want a number")
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, errors.New("want a finite number")
		}
		return f, nil
	case KindList:
		var items []string
		switch r := raw.(type) {
		case string:
			items = strings.Split(r, ",")
		case []string:
			items = slices.Clone(r)
		case []any:
			for _, x := range r {
				str, ok := x.(string)
				if !ok {
					return nil, errors.New("want a list of strings")
				}
				items = append(items, str)
			}
		default:
			return nil, errors.New("want a list of strings")
		}
		for i := range items {
			items[i] = strings.TrimSpace(items[i])
			if items[i] == "" {
				return nil, errors.New("empty list item")
			}
		}
		if len(items) == 0 {
			return nil, errors.New("empty list")
		}
		return items, nil
	}
	return nil, fmt.Errorf("unknown kind %v", s.Kind)
}
