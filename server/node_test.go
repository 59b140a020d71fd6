package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/internal/learnertest"
	"github.com/fastslow/fastslow/internal/ollamatest"
)

// nodeClientNames are the calls testdata/node/clients.mjs makes: the ollama npm package's generate and chat
// and the openai npm package's chat completions, each streamed and not.
var nodeClientNames = []string{
	"ollama.generate", "ollama.generate stream", "ollama.chat", "ollama.chat stream",
	"openai.chat.completions", "openai.chat.completions stream",
}

// nodeClients installs the npm packages pinned in testdata/node/package-lock.json (npm ci) into a temporary
// directory, beside a copy of clients.mjs, and returns that directory. npm's cache lives in
// $FASTSLOW_CACHE/npm (default ~/.cache/fastslow/npm), so a second run installs offline; node_modules never
// enters the source tree. Without node and npm the test skips, except under CI=true, where it fails. Node 18 or
// newer: the pinned packages pass on Debian bookworm's nodejs 18.20.4 (what .ci/run's apt-get install npm
// gives a fresh bookworm) and on 20.20.2; openai 7.x, which declares node >= 22, is not used.
func nodeClients(t *testing.T) string {
	t.Helper()
	if raceEnabled {
		t.Skip("the Node clients gain nothing from -race; the plain test run covers them")
	}
	for _, exe := range []string{"node", "npm"} {
		if _, err := exec.LookPath(exe); err != nil {
			if ollamatest.InCI() {
				t.Fatalf("%s is not installed (apt-get install npm); CI=true requires the Node client tests", exe)
			}
			t.Skipf("%s is not installed (apt-get install npm)", exe)
		}
	}
	if v, err := exec.Command("node", "--version").Output(); err == nil {
		t.Logf("node %s", bytes.TrimSpace(v)) // checked on 20.20.2 (nodesource) and 18.20.4 (Debian bookworm's nodejs)
	}
	dir := t.TempDir()
	for _, f := range []string{"package.json", "package-lock.json", "clients.mjs"} {
		b, err := os.ReadFile(filepath.Join("testdata", "node", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cache := os.Getenv("FASTSLOW_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		cache = filepath.Join(home, ".cache", "fastslow")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--prefer-offline",
		"--cache", filepath.Join(cache, "npm"))
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci: %v\n%s", err, out)
	}
	return dir
}

type nodeAsk struct {
	Client   string `json:"client"`
	Question string `json:"question"`
	Answer   string `json:"answer"`
	Feedback bool   `json:"feedback"`
}

type nodeJob struct {
	Base  string    `json:"base"`
	Token string    `json:"token"`
	Model string    `json:"model"`
	Asks  []nodeAsk `json:"asks"`
}

// nodeLine is what clients.mjs prints for one ask.
type nodeLine struct {
	Client   string `json:"client"`
	Question string `json:"question"`
	First    string `json:"first"`
	ID       string `json:"id"`
	Again    string `json:"again"`
	Feedback *struct {
		Record  uint64 `json:"record"`
		Pending int    `json:"pending"`
	} `json:"feedback"`
}

// runNode runs clients.mjs on job and returns its lines, one per ask.
func runNode(t *testing.T, dir string, job nodeJob) []nodeLine {
	t.Helper()
	arg, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "clients.mjs", string(arg))
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node clients.mjs: %v\n%s\n%s", err, out, stderr.Bytes())
	}
	var lines []nodeLine
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var l nodeLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("clients.mjs printed %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	if len(lines) != len(job.Asks) {
		t.Fatalf("clients.mjs answered %d of %d asks:\n%s\n%s", len(lines), len(job.Asks), out, stderr.Bytes())
	}
	return lines
}

// TestNodeClientsFastChannel: the ollama and openai npm packages, from Node, ask the fst learner through the
// server (behind a token, which both packages send), post feedback with the right answer on their answer's
// id, and their next answer is right (the prompt channel's note, at once). At least one first answer must
// have been wrong, so the loop corrected something.
func TestNodeClientsFastChannel(t *testing.T) {
	dir := nodeClients(t)
	const token = "sk-fastslow-node"
	_, _, _, tokened := serveOllama(t, token, fastslow.WithFlush(fastslow.FlushPolicy{}))
	job := nodeJob{Base: tokened, Token: token, Model: "fastslow/people"}
	for i, c := range nodeClientNames {
		f := facts[i%len(facts)]
		job.Asks = append(job.Asks, nodeAsk{Client: c, Question: f.Question, Answer: f.Answer, Feedback: true})
	}
	wrong := 0
	for i, l := range runNode(t, dir, job) {
		f := facts[i%len(facts)]
		t.Logf("%s %q: %q, after feedback %q", l.Client, f.Question, l.First, l.Again)
		if l.ID == "" || l.Feedback == nil || l.Feedback.Record == 0 {
			t.Errorf("%s: answer id %q, feedback %+v: the feedback was not recorded", l.Client, l.ID, l.Feedback)
		}
		if !correct(l.First, f.Answer) {
			wrong++
		}
		if !correct(l.Again, f.Answer) {
			t.Errorf("%s after feedback: %q, want %q", l.Client, l.Again, f.Answer)
		}
	}
	if wrong == 0 {
		t.Error("every first answer was already right: the loop corrected nothing")
	}
}

// TestNodeClientsSlowChannel: under the weight-only policy (the served prompt is the input alone: no notes,
// no demos) the Node clients' feedback starts a background weight round by the flush policy; once it is
// deployed every Node client gets the taught answers from the adapted model.
func TestNodeClientsSlowChannel(t *testing.T) {
	dir := nodeClients(t)
	if testing.Short() {
		t.Skip("trains a weight round (the fast-channel Node test still runs)")
	}
	taught := facts[:3]
	opts, done := learnertest.WeightRounds(len(taught), func(o *fastslow.Options) { o.Slow.Steps, o.Slow.LR, o.Slow.Seed = 60, 1e-2, 1 })
	l, _, base, _ := serveOllama(t, "unused", opts...)
	teach := nodeJob{Base: base, Model: "fastslow/people"}
	for i, f := range taught {
		teach.Asks = append(teach.Asks, nodeAsk{Client: nodeClientNames[2*i], Question: f.Question, Answer: f.Answer, Feedback: true})
	}
	for _, line := range runNode(t, dir, teach) {
		t.Logf("%s before the round: %q", line.Client, line.First)
	}
	learnertest.WaitPromoted(t, done, 10*time.Minute)
	askNodeInputAlone(t, dir, l, base, taught)
}

// askNodeInputAlone checks that the served prompt of each taught question is the input alone and that every
// Node client, asked it, gets the taught answer (from the adapted model).
func askNodeInputAlone(t *testing.T, dir string, l *fastslow.Learner, base string, taught []fact) {
	t.Helper()
	ask := nodeJob{Base: base, Model: "fastslow/people"} // the prefix names a task even once its notes are removed
	for i, c := range nodeClientNames {
		f := taught[i%len(taught)]
		if p, err := l.Prompt(context.Background(), "people", f.Question); err != nil || p != f.Question {
			t.Fatalf("served prompt %q (%v), want the input alone", p, err)
		}
		ask.Asks = append(ask.Asks, nodeAsk{Client: c, Question: f.Question, Answer: f.Answer})
	}
	for i, line := range runNode(t, dir, ask) {
		f := taught[i%len(taught)]
		if line.ID == "" {
			t.Errorf("%s: answer %q came without an id", line.Client, line.First)
		}
		if !correct(line.First, f.Answer) {
			t.Errorf("%s after the weight round (%s): %q, want %q", line.Client, l.Slow().Handle(), line.First, f.Answer)
		}
	}
}

// TestNodeClientsSlowChannelFST: under the default fst policy the Node clients' feedback becomes notes, a
// weight round trains on the served prompts, and with the task's notes then removed every Node client still
// gets the taught answers.
func TestNodeClientsSlowChannelFST(t *testing.T) {
	dir := nodeClients(t)
	if testing.Short() || raceEnabled {
		t.Skip("trains a weight round (the fast-channel Node test still runs)")
	}
	taught := facts[1:4] // answers the base model gets wrong
	l, _, base, _ := serveOllama(t, "unused",
		fastslow.WithFlush(fastslow.FlushPolicy{}),
		fastslow.WithOptions(func(o *fastslow.Options) { o.Slow.Seed = 1 }))
	teach := nodeJob{Base: base, Model: "fastslow/people"}
	for i, f := range taught {
		teach.Asks = append(teach.Asks, nodeAsk{Client: nodeClientNames[2*i%len(nodeClientNames)], Question: f.Question, Answer: f.Answer, Feedback: true})
	}
	for _, line := range runNode(t, dir, teach) {
		t.Logf("%s before the round: %q", line.Client, line.First)
	}
	ctx := context.Background()
	r, err := l.Flush(ctx, "people")
	if err != nil || r.Weights.Steps == 0 || !r.Weights.Promoted {
		t.Fatalf("fst weight round: %v, %+v", err, r.Weights)
	}
	if err := l.Store().RemoveTask(ctx, "people"); err != nil {
		t.Fatal(err)
	}
	askNodeInputAlone(t, dir, l, base, taught)
}
