package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
)

// deployed is the JSON `fastslow deploy --json` prints.
type deployed struct {
	fastslow.Deployment
	Base string `json:"base"`
	// adapter and data are the adapter closedLoopDeploy trained and the facts it trained on (not JSON).
	adapter, data string
}

// closedLoopDeploy runs the closed loop on the base GGUF at base: the model answers under 10% of the facts,
// `fastslow train` learns them, `fastslow deploy --deploy mode` creates the model in Ollama, and Ollama then
// answers at least 90% of them exactly. It returns what deploy reported.
func closedLoopDeploy(t *testing.T, c *ollama.Client, base, mode string, deployArgs ...string) deployed {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "facts.jsonl")
	ex := facts()
	writeJSONL(t, data, ex)

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
	_, stderr, code := runCLI(t, nil, "train", "--base", base, "--data", data, "--out", adapter,
		"--steps", "300", "--batch", "8", "--lr", "1e-2", "--rank", "8", "--json")
	if code != 0 {
		t.Fatalf("train exited %d: %s", code, stderr)
	}
	name := ollamatest.UniqueName(t, "fastslow-closedloop")
	args := append([]string{"deploy", "--base", base, "--adapter", adapter, "--name", name, "--deploy", mode, "--json"}, deployArgs...)
	stdout, stderr, code := runCLI(t, []string{"OLLAMA_HOST=" + c.Host()}, args...)
	if code != 0 {
		t.Fatalf("deploy exited %d: %s", code, stderr)
	}
	d := deployed{adapter: adapter, data: data}
	if err := json.Unmarshal([]byte(stdout), &d); err != nil {
		t.Fatalf("deploy output %q: %v", stdout, err)
	}
	ollamatest.DeleteOnCleanup(t, d.Base)
	acc := ollamaAccuracy(t, c, name, ex)
	t.Logf("--deploy %s: %s deploy (%s); Ollama answers %.0f%% exactly", mode, d.Mode, d.Reason, 100*acc)
	if d.Mode == fastslow.DeployMerged {
		st, err := os.Stat(d.MergedPath)
		if err != nil || st.Size() != d.MergedBytes {
			t.Errorf("merged file %s: %v, size %v, reported %d", d.MergedPath, err, st, d.MergedBytes)
		}
		t.Logf("merged GGUF %d bytes, %.2f%% of the update kept", d.MergedBytes, 100*d.Retained)
	}
	if acc < 0.9 {
		t.Fatalf("Ollama answers %.0f%% of the facts after train + %s deploy, want at least 90%%", 100*acc, d.Mode)
	}
	return d
}

// TestClosedLoopMerged is the closed loop with merged deploys of llama bases: F16 (the merged tensors stay
// F16) and Q8_0 (re-encoded in Q8_0 by our port of ggml's quantizer), on every server version.
func TestClosedLoopMerged(t *testing.T) {
	c := ollamatest.Client(t)
	for _, typ := range []gguf.Type{gguf.TypeF16, gguf.TypeQ8_0} {
		t.Run(typ.String(), func(t *testing.T) {
			base := tinyBase(t, t.TempDir(), 21, typ)
			if d := closedLoopDeploy(t, c, base, "merged"); d.Mode != fastslow.DeployMerged {
				t.Errorf("--deploy merged made a %s deploy", d.Mode)
			}
		})
	}
}

// TestDeployAuto: auto deploys a merged model for qwen3, which Ollama v0.17.4 runs on its own engine (an
// adapter model there fails with "loras are not yet implemented"), and closes the loop. (For llama, auto
// deploys an adapter: TestClosedLoop.)
func TestDeployAuto(t *testing.T) {
	c := ollamatest.Client(t)
	t.Run("qwen3", func(t *testing.T) {
		ollamatest.RequireVersion(t, "0.17.4", "qwen3 runs from v0.17.4 (v0.6.5 has no qwen3)")
		base := filepath.Join(t.TempDir(), "base.gguf")
		if _, _, err := tinymodel.WriteQwen3(context.Background(), base, 21, 0.05, gguf.TypeF16); err != nil {
			t.Fatal(err)
		}
		if d := closedLoopDeploy(t, c, base, "auto"); d.Mode != fastslow.DeployMerged {
			t.Errorf("auto chose a %s deploy for qwen3, want merged", d.Mode)
		}
	})
}

// TestModelsMerged lists an adapted and a merged deploy of one base with their modes and the store's disk
// use, then removes the merged model with `models rm`: its weights file leaves Ollama's store.
func TestModelsMerged(t *testing.T) {
	c := ollamatest.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	base := tinyBase(t, dir, 5, gguf.TypeQ8_0)
	m, err := weights.Load(base)
	if err != nil {
		t.Fatal(err)
	}
	a, err := llama.NewAdapter(m.Model, weights.DefaultLoRA, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range a.Params() {
		for i := range p.Data {
			p.Data[i] = float32(i%7-3) * 0.02
		}
	}
	adapter := filepath.Join(dir, "a.gguf")
	if err := weights.SaveAdapter(adapter, a, ""); err != nil {
		t.Fatal(err)
	}
	env := []string{"FASTSLOW_HOST=" + c.Host()}
	names := map[string]string{}
	var merged deployed
	for _, mode := range []string{"adapter", "merged"} {
		name := ollamatest.UniqueName(t, "fastslow-models-"+mode)
		stdout, stderr, code := runCLI(t, env, "deploy", "--base", base, "--adapter", adapter, "--name", name, "--deploy", mode, "--json")
		if code != 0 {
			t.Fatalf("deploy --deploy %s exited %d: %s", mode, code, stderr)
		}
		var d deployed
		if err := json.Unmarshal([]byte(stdout), &d); err != nil {
			t.Fatal(err)
		}
		ollamatest.DeleteOnCleanup(t, d.Base)
		names[mode] = name
		if mode == "merged" {
			merged = d
		}
	}
	stdout, stderr, code := runCLI(t, env, "models", "--json")
	if code != 0 {
		t.Fatalf("models exited %d: %s", code, stderr)
	}
	var out struct {
		Models    []modelInfo `json:"models"`
		DiskBytes *int64      `json:"disk_bytes"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatal(err)
	}
	for mode, name := range names {
		if mi := findModel(out.Models, name); mi == nil || mi.Mode != mode {
			t.Errorf("%s listed as %+v, want mode %s", name, mi, mode)
		}
	}
	if b := findModel(out.Models, merged.Base); b == nil || b.Mode != "base" {
		t.Errorf("base %s listed as %+v, want mode base", merged.Base, b)
	}
	store := os.Getenv("OLLAMA_MODELS")
	if store == "" {
		t.Logf("OLLAMA_MODELS unset: disk use not checked (disk_bytes %v)", out.DiskBytes)
	} else {
		st, err := os.Stat(base)
		if err != nil {
			t.Fatal(err)
		}
		if out.DiskBytes == nil || *out.DiskBytes < merged.MergedBytes+st.Size() {
			t.Errorf("disk_bytes %v, want at least the merged model and the base, %d", out.DiskBytes, merged.MergedBytes+st.Size())
		}
	}
	text, _, code := runCLI(t, env, "models")
	if code != 0 || !strings.Contains(text, "MODE") || (store != "" && !strings.Contains(text, "disk: ")) {
		t.Errorf("models (text):\n%s", text)
	}

	blob := filepath.Join(store, "blobs", strings.Replace(ollamatest.FileDigest(t, merged.MergedPath), ":", "-", 1))
	if _, stderr, code := runCLI(t, env, "models", "rm", names["merged"]); code != 0 {
		t.Fatalf("models rm exited %d: %s", code, stderr)
	}
	if store != "" {
		if _, err := os.Stat(blob); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after models rm, the merged weights %s are still in the store (%v)", blob, err)
		}
	}
	if _, err := c.Generate(ctx, names["adapter"], "hi", ollama.GenerateOptions{NumPredict: 1, Raw: true}); err != nil {
		t.Errorf("the adapted model no longer works after the merged one was removed: %v", err)
	}
}

// TestClosedLoopGemma3Merged: gemma3 (gemma's real 256k SentencePiece vocabulary) runs on Ollama's own
// engine from v0.17.4, so auto deploys it merged, and the loop closes there too.
func TestClosedLoopGemma3Merged(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a 66M-parameter model (mostly its embedding)")
	}
	c := ollamatest.Client(t)
	ollamatest.RequireVersion(t, "0.17.4", "gemma3's text model with this vocabulary is checked on v0.17.4")
	base := filepath.Join(t.TempDir(), "base.gguf")
	if _, _, err := tinymodel.WriteGemma3(context.Background(), base, 21, 0.05, gguf.TypeF16); err != nil {
		t.Fatal(err)
	}
	if d := closedLoopDeploy(t, c, base, "auto"); d.Mode != fastslow.DeployMerged {
		t.Errorf("auto chose a %s deploy for gemma3, want merged", d.Mode)
	}
}

// TestClosedLoopQ4KMerged: the base most users have, a model Ollama quantized to Q4_K_M. The loop trains on
// the stored Q4_K_M weights and deploys merged with each tensor re-encoded in its own type (Q4_K stays Q4_K),
// on qwen3 (Ollama v0.17.4's own engine).
func TestClosedLoopQ4KMerged(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a qwen3 model against Ollama")
	}
	c := ollamatest.Client(t)
	ollamatest.RequireVersion(t, "0.17.4", "qwen3 runs from v0.17.4 (v0.6.5 has no qwen3)")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f16 := filepath.Join(t.TempDir(), "base-f16.gguf")
	if _, _, err := tinymodel.WriteQwen3(ctx, f16, 21, 0.05, gguf.TypeF16); err != nil {
		t.Fatal(err)
	}
	q := ollamatest.UniqueName(t, "fastslow-closedloop-q4km")
	if err := c.CreateFromGGUF(ctx, q, f16, ollama.CreateOptions{Quantize: "q4_K_M"}); err != nil {
		t.Fatal(err)
	}
	blob, err := c.ResolveGGUF(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(t.TempDir(), "base-q4km.gguf")
	data, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base, data, 0o644); err != nil {
		t.Fatal(err)
	}
	d := closedLoopDeploy(t, c, base, "merged")
	if d.Mode != fastslow.DeployMerged {
		t.Errorf("--deploy merged made a %s deploy", d.Mode)
	}
}
