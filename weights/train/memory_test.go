package train

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/weights/llama"
)

// memConfig is a model whose weights and activations are both large next to the Go runtime's own memory
// (about 34 MB of weights, 30–50 MB of activations at memTokens), yet trains a step in about a second.
var memConfig = llama.Config{Vocab: 8192, Dim: 256, Hidden: 1024, Layers: 4, Heads: 8, KVHeads: 4,
	ContextLength: 256, RopeBase: 10000, NormEps: 1e-5}

const (
	memBatch = 4
	memSeq   = 128
)

// memChild is the environment variable that makes TestEstimateVsRSS the measured child process.
const memChild = "FASTSLOW_TEST_MEM_CHILD"

// memResult is what the child reports.
type memResult struct {
	Estimate, Base, Peak int64 // the estimate's total, the RSS before the model existed, the peak RSS
}

// TestEstimateVsRSS checks llama.Model.EstimateMemory against the peak resident memory (VmHWM) of a process
// that builds a model and trains a rank-16 LoRA on all seven projections for three steps, with and without
// recomputation: the peak above the process's starting RSS must be within 15% (plus 16 MiB for the
// runtime's bookkeeping and collectable garbage) of the estimate. Each measurement runs in a fresh child
// process, so neither the test binary's other tests nor the other mode contaminate its peak.
func TestEstimateVsRSS(t *testing.T) {
	if mode := os.Getenv(memChild); mode != "" {
		memMeasure(t, mode == "recompute")
		return
	}
	if testing.Short() {
		t.Skip("trains a 9M-parameter model in two child processes")
	}
	if raceEnabled {
		t.Skip("the race detector's shadow memory makes resident memory meaningless; the plain run checks it")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc/self/status to read peak memory from")
	}
	for _, mode := range []string{"plain", "recompute"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestEstimateVsRSS$", "-test.count=1")
		cmd.Env = append(os.Environ(), memChild+"="+mode)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s child: %v\n%s", mode, err, out)
		}
		var r memResult
		line, _, _ := strings.Cut(string(out[strings.Index(string(out), "MEM ")+4:]), "\n")
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%s child printed %q: %v", mode, out, err)
		}
		used := r.Peak - r.Base
		t.Logf("%s: estimate %.1f MiB, peak RSS %.1f MiB above a start of %.1f MiB", mode,
			float64(r.Estimate)/(1<<20), float64(used)/(1<<20), float64(r.Base)/(1<<20))
		if slack := r.Estimate*15/100 + 16<<20; used > r.Estimate+slack || used < r.Estimate-slack {
			t.Errorf("%s: peak RSS %d bytes above start, estimate %d: off by more than %d", mode, used, r.Estimate, slack)
		}
	}
}

// memMeasure is the child: it trains and prints "MEM {json}".
func memMeasure(t *testing.T, recompute bool) {
	base := procStatus(t, "VmRSS")
	// Start the peak from here: the parent's memory can show up in a child's VmHWM through exec.
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Logf("cannot reset the peak (%v); VmHWM counts from exec", err)
	}
	m, err := llama.New(memConfig)
	if err != nil {
		t.Fatal(err)
	}
	m.InitRandom(1, 0.02)
	lora := llama.LoRAConfig{Rank: 16, Alpha: 32, Targets: []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}}
	a, err := llama.NewAdapter(m, lora, 1)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]llama.Sequence, 3*memBatch)
	for i := range data {
		toks := make([]int32, memSeq)
		for j := range toks {
			toks[j] = int32(rng.IntN(memConfig.Vocab))
		}
		data[i] = llama.Sequence{Tokens: toks, Start: 1}
	}
	shape := llama.StepShape{Tokens: memBatch * memSeq, Longest: memSeq, LoRA: lora, Recompute: recompute}
	est := m.EstimateMemory(shape)
	ws := &llama.Workspace{Recompute: recompute}
	opt := Options{Steps: 3, BatchSize: memBatch, LR: 1e-4, Decay: DecayConstant}
	if _, err := Run(context.Background(), LoRAObjectiveIn(m, a, ws), data, opt, nil); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(memResult{Estimate: est.Total(), Base: base, Peak: procStatus(t, "VmHWM")})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("MEM %s\n", b)
}

// procStatus returns a memory field of /proc/self/status (VmRSS, VmHWM) in bytes.
func procStatus(t *testing.T, field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}
