package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/eval/world"
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
// `fastslow train`, `fastslow deploy` puts the adapter into Ollama, and Ollama then answers them.
func TestClosedLoop(t *testing.T) {
	c := ollamatest.Client(t)
	dir := t.TempDir()
	base := filepath.Join(dir, "base.gguf")
	if _, _, err := tinymodel.Write(context.Background(), base, 21, 0.05, gguf.TypeF32); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "facts.jsonl")
	ex := facts()
	writeJSONL(t, data, ex)

	// The base: deployed with a B=0 adapter would answer as the base does, so measure the base itself.
	baseName := ollamatest.UniqueName(t, "fastslow-closedloop-base")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := c.CreateFromGGUF(ctx, baseName, base, ollama.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if acc := ollamaAccuracy(t, c, baseName, ex); acc >= 0.1 {
		t.Fatalf("the base already answers %.0f%% of the facts; the test needs a model that does not know them", 100*acc)
	}

	adapter := filepath.Join(dir, "facts.gguf")
	stdout, stderr, code := runCLI(t, nil, "train", "--base", base, "--data", data, "--out", adapter,
		"--steps", "300", "--batch", "8", "--lr", "1e-2", "--rank", "8", "--json")
	if code != 0 {
		t.Fatalf("train exited %d: %s", code, stderr)
	}
	var summary struct {
		Steps     int     `json:"steps"`
		FinalLoss float64 `json:"final_loss"`
		TPS       float64 `json:"tokens_per_second"`
	}
	if err := json.Unmarshal([]byte(stdout), &summary); err != nil {
		t.Fatalf("train output %q: %v", stdout, err)
	}
	t.Logf("trained %d steps, final loss %.4f, %.0f tokens/s", summary.Steps, summary.FinalLoss, summary.TPS)

	stdout, stderr, code = runCLI(t, nil, "score", "--model", base, "--adapter", adapter, "--data", data, "--json")
	if code != 0 {
		t.Fatalf("score exited %d: %s", code, stderr)
	}
	var score Score
	if err := json.Unmarshal([]byte(stdout), &score); err != nil {
		t.Fatal(err)
	}
	t.Logf("our engine with the adapter: exact match %.0f%%, mean log-likelihood %.3f", 100*score.ExactMatch, score.MeanLogLik)

	name := ollamatest.UniqueName(t, "fastslow-closedloop")
	stdout, stderr, code = runCLI(t, []string{"OLLAMA_HOST=" + c.Host()}, "deploy", "--base", base, "--adapter", adapter, "--name", name, "--json")
	if code != 0 {
		t.Fatalf("deploy exited %d: %s", code, stderr)
	}
	var dep struct{ Model, Base string }
	if err := json.Unmarshal([]byte(stdout), &dep); err != nil {
		t.Fatal(err)
	}
	ollamatest.DeleteOnCleanup(t, dep.Base)
	acc := ollamaAccuracy(t, c, name, ex)
	t.Logf("Ollama with the deployed adapter answers %.0f%% exactly", 100*acc)
	if acc < 0.9 {
		t.Fatalf("Ollama answers %.0f%% of the facts after train+deploy, want at least 90%%", 100*acc)
	}
	if score.ExactMatch < 0.9 {
		t.Errorf("our engine answers %.0f%%, want at least 90%% like Ollama", 100*score.ExactMatch)
	}
}
