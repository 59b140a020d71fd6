package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/eval/world"
	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/internal/config"
	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights/gguf"
)

// binary is the fastslow command built once for the tests that drive it as a user would.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fastslow-cmd-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "fastslow")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build fastslow: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runCLI runs the binary and returns stdout, stderr and the exit code. It runs hermetically: in an empty
// working directory, with an empty home (FASTSLOW_HOME) and no configuration from the developer's
// environment; env adds variables and overrides those.
func runCLI(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(hermeticEnv(), "FASTSLOW_HOME="+t.TempDir())
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run fastslow %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), code
}

// hermeticEnv is the test's environment without the variables that configure fastslow.
func hermeticEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if _, isKey := config.Lookup(strings.ToLower(strings.TrimPrefix(name, config.EnvPrefix))); strings.HasPrefix(name, config.EnvPrefix) && isKey || name == "FASTSLOW_CONFIG" {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// facts are new prompt→completion pairs no random model knows.
func facts() []world.Example {
	countries := []string{"Zorblia", "Quenth", "Marovia", "Tessaly", "Brundor", "Kelvane", "Osmira", "Paldor",
		"Veltria", "Ashkar", "Dunmere", "Felwick", "Gorvan", "Hallin", "Istrea", "Jorvik", "Kandor", "Lumen",
		"Norwyn", "Orlith", "Prenza", "Quorra", "Rastel", "Sundar"}
	capitals := []string{"Quessa", "Ambrel", "Tovik", "Serrano", "Lidmar", "Orrin", "Pavel", "Cindra", "Baltor",
		"Emrys", "Falun", "Gethin", "Harrow", "Ilsa", "Juno", "Kestrel", "Lorne", "Mira", "Nessa", "Olwen",
		"Perrin", "Ronan", "Selby", "Tamsin"}
	ex := make([]world.Example, len(countries))
	for i := range countries {
		ex[i] = world.Example{Prompt: "Q: What is the capital of " + countries[i] + "?\nA:", Completion: " " + capitals[i], Answer: capitals[i]}
	}
	return ex
}

// tinyBase writes tinymodel's random llama model for seed (weights of standard deviation 0.05) as typ to
// dir/base.gguf and returns the path.
func tinyBase(t *testing.T, dir string, seed uint64, typ gguf.Type) string {
	t.Helper()
	base := filepath.Join(dir, "base.gguf")
	if _, _, err := tinymodel.Write(context.Background(), base, seed, 0.05, typ); err != nil {
		t.Fatal(err)
	}
	return base
}

// factsFile writes the first n of facts() to dir/name as JSONL and returns its path.
func factsFile(t *testing.T, dir, name string, n int) string {
	t.Helper()
	path := filepath.Join(dir, name)
	writeJSONL(t, path, facts()[:n])
	return path
}

func writeJSONL(t *testing.T, path string, ex []world.Example) {
	t.Helper()
	var buf bytes.Buffer
	if err := world.WriteJSONL(&buf, ex); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ollamaAccuracy asks the model in Ollama every prompt, greedily, and counts exact answers.
func ollamaAccuracy(t *testing.T, c *ollama.Client, model string, ex []world.Example) float64 {
	t.Helper()
	right := 0
	for _, e := range ex {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		g, err := c.Generate(ctx, model, e.Prompt, ollama.GenerateOptions{NumPredict: 16, Raw: true})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(g.Text) == e.Answer {
			right++
		}
	}
	return float64(right) / float64(len(ex))
}

// TestClosedLoop is the slow channel end to end: a model that does not know 24 facts learns them through
// `fastslow train`, `fastslow deploy` (auto) puts the adapter into Ollama, which applies llama adapters on
// every version, and Ollama then answers them (closedLoopDeploy); our engine with the adapter answers them
// too (`fastslow score`).
func TestClosedLoop(t *testing.T) {
	c := ollamatest.Client(t)
	base := tinyBase(t, t.TempDir(), 21, gguf.TypeF32)
	d := closedLoopDeploy(t, c, base, "auto")
	if d.Mode != fastslow.DeployAdapter {
		t.Errorf("auto chose a %s deploy for llama, want adapter", d.Mode)
	}
	var score Score
	runJSON(t, nil, &score, "score", "--model", base, "--adapter", d.adapter, "--data", d.data, "--json")
	t.Logf("our engine with the adapter: exact match %.0f%%, mean log-likelihood %.3f", 100*score.ExactMatch, score.MeanLogLik)
	if score.ExactMatch < 0.9 {
		t.Errorf("our engine answers %.0f%%, want at least 90%% like Ollama", 100*score.ExactMatch)
	}
}
