package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	lcollama "github.com/tmc/langchaingo/llms/ollama"
	lcopenai "github.com/tmc/langchaingo/llms/openai"

	"github.com/tmc/langchaingo/llms"

	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/internal/learnertest"
	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/server"
)

// ollamaCLI returns the ollama command named by FASTSLOW_OLLAMA_BIN (.ci/run sets it to the binary of the
// server under test), or "" when it is not set outside CI; in CI its absence is a failure.
func ollamaCLI(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("FASTSLOW_OLLAMA_BIN")
	if bin == "" {
		if ollamatest.InCI() {
			t.Fatal("FASTSLOW_OLLAMA_BIN is not set (CI=true: .ci/run exports the ollama binary under test)")
		}
		return ""
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("FASTSLOW_OLLAMA_BIN: %v", err)
	}
	return bin
}

// idRecorder is an HTTP transport that remembers the X-Fastslow-Id of the last response and sends a bearer
// token: how a client that does not show our JSON field still learns its answer's id.
type idRecorder struct {
	mu    sync.Mutex
	last  string
	token string
}

func (r *idRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if r.token != "" {
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil {
		r.mu.Lock()
		r.last = resp.Header.Get(server.IDHeader)
		r.mu.Unlock()
	}
	return resp, err
}

func (r *idRecorder) id() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// realClient asks a model one question through a real client library or program.
type realClient struct {
	name string
	ask  func(t *testing.T, model, question string) (answer, id string)
	// base and token are where the client's answers take feedback: the server that gave them.
	base, token string
}

// realClients are the clients the issue names, pointed at the fastslow server at base (open) and at tokened
// (the same learner behind a token, for the OpenAI client's API key).
func realClients(t *testing.T, base, tokened, token string) []realClient {
	ctx := context.Background()
	lc := func(name string, stream bool, mk func(*http.Client) (llms.Model, error), rec *idRecorder) realClient {
		return realClient{name: name, ask: func(t *testing.T, model, q string) (string, string) {
			m, err := mk(&http.Client{Transport: rec})
			if err != nil {
				t.Fatal(err)
			}
			var opts []llms.CallOption
			var streamed strings.Builder
			if stream {
				opts = append(opts, llms.WithStreamingFunc(func(_ context.Context, chunk []byte) error {
					streamed.Write(chunk)
					return nil
				}))
			}
			out, err := llms.GenerateFromSinglePrompt(ctx, m, q, opts...)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if stream && streamed.String() != out {
				t.Errorf("%s: streamed %q, answered %q", name, streamed.String(), out)
			}
			return out, rec.id()
		}}
	}
	var clients []realClient
	if bin := ollamaCLI(t); bin != "" {
		clients = append(clients, realClient{name: "ollama CLI", base: base, ask: func(t *testing.T, model, q string) (string, string) {
			cmd := exec.Command(bin, "run", model, q)
			cmd.Env = append(os.Environ(), "OLLAMA_HOST="+strings.TrimPrefix(base, "http://"), "TERM=dumb")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("ollama run %s: %v\n%s", model, err, stderr.String())
			}
			// The CLI shows no id: its user finds the answer in GET /fastslow/answers (newest first).
			code, body := do(t, "GET", base+"/fastslow/answers?limit=5", "", nil)
			var listed struct{ Answers []server.Answer }
			if err := json.Unmarshal(body, &listed); code != http.StatusOK || err != nil {
				t.Fatalf("GET /fastslow/answers: %d %s (%v)", code, body, err)
			}
			id := ""
			for _, a := range listed.Answers {
				if a.Input == q && a.Model == model {
					id = a.ID
					break
				}
			}
			return strings.TrimRight(string(out), "\n"), id
		}})
	}
	for _, stream := range []bool{false, true} {
		rec := &idRecorder{}
		name := "langchaingo ollama"
		if stream {
			name += " (streamed)"
		}
		clients = append(clients, realClient{name: name, base: base, ask: func(t *testing.T, model, q string) (string, string) {
			return lc(name, stream, func(hc *http.Client) (llms.Model, error) {
				return lcollama.New(lcollama.WithServerURL(base), lcollama.WithModel(model), lcollama.WithHTTPClient(hc))
			}, rec).ask(t, model, q)
		}})
	}
	for _, stream := range []bool{false, true} {
		rec := &idRecorder{token: token}
		name := "langchaingo openai"
		if stream {
			name += " (streamed)"
		}
		clients = append(clients, realClient{name: name, base: tokened, token: token, ask: func(t *testing.T, model, q string) (string, string) {
			return lc(name, stream, func(hc *http.Client) (llms.Model, error) {
				return lcopenai.New(lcopenai.WithBaseURL(tokened+"/v1"), lcopenai.WithToken(token), lcopenai.WithModel(model), lcopenai.WithHTTPClient(hc))
			}, rec).ask(t, model, q)
		}})
	}
	return clients
}

// serveOllama opens a learner served by the real Ollama (ollamatest) with opts and serves it twice: openly
// and behind a token. It returns the learner, the open server and both base URLs.
func serveOllama(t *testing.T, token string, opts ...fastslow.Option) (*fastslow.Learner, *server.Server, string, string) {
	t.Helper()
	c := ollamatest.Client(t)
	l, err := fastslow.Open(context.Background(), t.TempDir(), append([]fastslow.Option{fastslow.WithOllamaClient(c)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	s, err := server.New(server.Config{Learner: l, Ollama: c})
	if err != nil {
		t.Fatal(err)
	}
	st, err := server.New(server.Config{Learner: l, Ollama: c, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	open, tokened := httptest.NewServer(s), httptest.NewServer(st)
	t.Cleanup(open.Close)
	t.Cleanup(tokened.Close)
	return l, s, open.URL, tokened.URL
}

func correct(out, answer string) bool { return (fastslow.Example{Answer: answer}).Correct(out) }

// TestClientsFastChannel: every real client asks the fst learner one fact through the server, the test
// sends feedback with the right answer on that answer's id, and the client's next answer is right (the
// prompt channel's note, at once, no weight round). At least one first answer must have been wrong, so the
// loop corrected something.
func TestClientsFastChannel(t *testing.T) {
	const token = "sk-fastslow-test"
	l, _, base, tokened := serveOllama(t, token, fastslow.WithFlush(fastslow.FlushPolicy{}))
	clients := realClients(t, base, tokened, token)
	baseRight := 0 // the base model alone, the input alone as prompt (a task with nothing in it)
	for i := range clients {
		f := facts[i%len(facts)]
		if out, _ := generate(t, base, "fastslow/nothing", f.Question); correct(out, f.Answer) {
			baseRight++
		}
	}
	wrong := 0
	for i, c := range clients {
		f := facts[i%len(facts)]
		model := "fastslow/people"
		if i%2 == 1 && i > 0 {
			model = "people" // the bare task name, once the task exists
		}
		t.Run(c.name, func(t *testing.T) {
			first, id := c.ask(t, model, f.Question)
			if id == "" {
				t.Fatalf("answer %q came without an id", first)
			}
			score := 0.0
			if correct(first, f.Answer) {
				score = 1
			} else {
				wrong++
			}
			sendFeedbackAs(t, c.base, c.token, id, score, f.Answer)
			again, _ := c.ask(t, model, f.Question)
			t.Logf("%s %q: %q, after feedback %q", model, f.Question, first, again)
			if !correct(again, f.Answer) {
				t.Errorf("after feedback: %q, want %q", again, f.Answer)
			}
		})
	}
	if wrong == 0 {
		t.Error("every first answer was already right: the loop corrected nothing")
	}
	// Under fst the weight round trains with the served prompt, notes in it. What the weights keep once the
	// notes are gone is measured and reported here (the weight-only policy's is asserted in
	// TestClientsSlowChannel).
	ctx := context.Background()
	r, err := l.Flush(ctx, "people")
	if err != nil || r.WeightSteps == 0 {
		t.Fatalf("fst round: %v, %d weight steps", err, r.WeightSteps)
	}
	if err := l.Store().RemoveTask(ctx, "people"); err != nil {
		t.Fatal(err)
	}
	right := 0
	for i := range clients {
		f := facts[i%len(facts)]
		if out, _ := generate(t, base, "fastslow/people", f.Question); correct(out, f.Answer) {
			right++
		}
	}
	t.Logf("fst: the base model alone answers %d of %d of these facts; after a weight round of %d steps, with the task's notes and demos removed, %d",
		baseRight, len(clients), r.WeightSteps, right)
}

// TestClientsSlowChannel: under the weight-only policy (no notes, no demos: the prompt is the input alone)
// feedback through the server starts a background weight round by the flush policy, and once it is done
// every real client gets the taught answers from the adapted model.
func TestClientsSlowChannel(t *testing.T) {
	if raceEnabled {
		t.Skip("trains a weight round, slow under -race; the plain test run covers it")
	}
	const token = "sk-fastslow-test"
	opts, done := learnertest.WeightRounds(len(facts), func(o *fastslow.Options) { o.Slow.Steps, o.Slow.LR, o.Slow.Seed = 60, 1e-2, 1 })
	l, _, base, tokened := serveOllama(t, token, opts...)
	clients := realClients(t, base, tokened, token)
	before := 0
	for _, f := range facts {
		out, id := generate(t, base, "fastslow/people", f.Question)
		if correct(out, f.Answer) {
			before++
		}
		sendFeedback(t, base, id, 0, f.Answer)
	}
	learnertest.WaitPromoted(t, done, 10*time.Minute)
	t.Logf("served %s; %d of %d right before feedback", l.Slow().Handle(), before, len(facts))
	for i, c := range clients {
		f := facts[i%len(facts)]
		t.Run(c.name, func(t *testing.T) {
			if p, err := l.Prompt(context.Background(), "people", f.Question); err != nil || p != f.Question {
				t.Fatalf("served prompt %q (%v), want the input alone", p, err)
			}
			out, _ := c.ask(t, "people", f.Question)
			if !correct(out, f.Answer) {
				t.Errorf("after the weight round: %q, want %q", out, f.Answer)
			}
		})
	}
}

// ndjson posts body to url and returns the concatenated "response" fields and the number of objects.
func ndjson(t *testing.T, url, body string) (string, int) {
	t.Helper()
	code, b := do(t, "POST", url, "", strings.NewReader(body))
	if code != http.StatusOK {
		t.Fatalf("POST %s: %d %s", url, code, b)
	}
	var text strings.Builder
	n := 0
	dec := json.NewDecoder(bytes.NewReader(b))
	for dec.More() {
		var r struct {
			Response string `json:"response"`
		}
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("POST %s: %v in %s", url, err, b)
		}
		text.WriteString(r.Response)
		n++
	}
	return text.String(), n
}

// TestPassthrough: a model that is not a task passes through to the real Ollama unchanged — generate
// streamed (token by token, as many objects as direct) and not, show, and the ollama CLI's run — and /api/tags
// lists Ollama's models and the tasks.
func TestPassthrough(t *testing.T) {
	ctx := context.Background()
	c := ollamatest.Client(t)
	l, _, base, _ := serveOllama(t, "unused", fastslow.WithFlush(fastslow.FlushPolicy{}))
	osrv, ok := l.Server().(*fastslow.OllamaServer)
	if !ok {
		t.Fatalf("the learner serves through %s, want Ollama", l.Server().Name())
	}
	name, err := osrv.BaseModel(ctx)
	if err != nil {
		t.Fatal(err)
	}
	q := facts[4].Question
	opts := `"options":{"num_predict":6,"temperature":0,"repeat_penalty":1,"num_ctx":512,"num_thread":1,"seed":0}`
	for _, stream := range []string{"false", "true"} {
		body := fmt.Sprintf(`{"model":%q,"prompt":%q,"raw":true,"stream":%s,%s}`, name, q, stream, opts)
		want, wantN := ndjson(t, c.Host()+"/api/generate", body)
		got, gotN := ndjson(t, base+"/api/generate", body)
		if got != want || gotN != wantN {
			t.Errorf("stream %s: through fastslow %q in %d objects, direct %q in %d", stream, got, gotN, want, wantN)
		}
		if stream == "true" && gotN < 2 {
			t.Errorf("streamed generate came in %d object(s)", gotN)
		}
	}
	show := fmt.Sprintf(`{"model":%q}`, name)
	_, direct := do(t, "POST", c.Host()+"/api/show", "", strings.NewReader(show))
	_, through := do(t, "POST", base+"/api/show", "", strings.NewReader(show))
	if !bytes.Equal(direct, through) {
		t.Errorf("show through fastslow differs:\n%s\ndirect:\n%s", through, direct)
	}
	if _, err := l.Feedback(ctx, fastslow.Correction{Task: "people", Input: q, Score: 1}); err != nil {
		t.Fatal(err)
	}
	code, tags := do(t, "GET", base+"/api/tags", "", nil)
	if code != http.StatusOK || !strings.Contains(string(tags), `"`+name) || !strings.Contains(string(tags), `"fastslow/people:latest"`) {
		t.Errorf("tags: %d %s, want %s and fastslow/people:latest", code, tags, name)
	}
	// OpenAI's API of the real Ollama, through fastslow: the same completion as direct, and the model list.
	v1 := fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":%q}],"max_tokens":6,"temperature":0,"seed":1}`, name, q)
	content := func(host string) string {
		code, b := do(t, "POST", host+"/v1/chat/completions", "", strings.NewReader(v1))
		var r struct {
			Choices []struct {
				Message struct{ Content string } `json:"message"`
			} `json:"choices"`
		}
		if err := json.Unmarshal(b, &r); code != http.StatusOK || err != nil || len(r.Choices) != 1 {
			t.Fatalf("POST %s/v1/chat/completions: %d %s (%v)", host, code, b, err)
		}
		return r.Choices[0].Message.Content
	}
	if got, want := content(base), content(c.Host()); got != want {
		t.Errorf("/v1/chat/completions of %s through fastslow %q, direct %q", name, got, want)
	}
	if code, b := do(t, "GET", base+"/v1/models", "", nil); code != http.StatusOK || !strings.Contains(string(b), `"`+name) || !strings.Contains(string(b), `"fastslow/people"`) {
		t.Errorf("/v1/models: %d %s, want %s and fastslow/people", code, b, name)
	}
	if bin := ollamaCLI(t); bin != "" {
		run := func(host string) string {
			cmd := exec.Command(bin, "run", name, q)
			cmd.Env = append(os.Environ(), "OLLAMA_HOST="+strings.TrimPrefix(host, "http://"), "TERM=dumb")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("ollama run %s via %s: %v", name, host, err)
			}
			return string(out)
		}
		// The CLI samples (it sends no temperature), so only the exchange is checked, not the text.
		if got := run(base); strings.TrimSpace(got) == "" {
			t.Errorf("ollama run %s through fastslow printed nothing", name)
		}
		// ollama list (Ollama's models and the tasks) and ollama show of a task, as the CLI prints them.
		for _, args := range [][]string{{"list"}, {"show", "people"}} {
			cmd := exec.Command(bin, args...)
			cmd.Env = append(os.Environ(), "OLLAMA_HOST="+strings.TrimPrefix(base, "http://"), "TERM=dumb")
			out, err := cmd.CombinedOutput()
			want := "fastslow/people:latest"
			if args[0] == "show" {
				want = "completion"
			}
			if err != nil || !strings.Contains(string(out), want) {
				t.Errorf("ollama %s through fastslow: %v\n%s\nwant it to show %s", strings.Join(args, " "), err, out, want)
			}
		}
	}
}

// streamed posts a streaming request and returns the text pieces it came in and the ids of its chunks.
func streamed(t *testing.T, url, body string, sse bool) ([]string, map[string]bool) {
	t.Helper()
	code, b := do(t, "POST", url, "", strings.NewReader(body))
	if code != http.StatusOK {
		t.Fatalf("POST %s: %d %s", url, code, b)
	}
	var pieces []string
	ids := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if sse {
			var ok bool
			if line, ok = strings.CutPrefix(line, "data: "); !ok || line == "[DONE]" {
				continue
			}
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		var c struct {
			Response string `json:"response"`
			Message  struct {
				Content string `json:"content"`
			} `json:"message"`
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
			FastslowID string `json:"fastslow_id"`
			Error      any    `json:"error"`
		}
		if err := json.Unmarshal([]byte(line), &c); err != nil || c.Error != nil {
			t.Fatalf("POST %s: chunk %q (%v)", url, line, err)
		}
		text := c.Response + c.Message.Content
		for _, ch := range c.Choices {
			text += ch.Delta.Content
		}
		if text != "" {
			pieces = append(pieces, text)
		}
		ids[c.FastslowID] = true
	}
	return pieces, ids
}

// TestTaskStreaming: a task's answer streams as Ollama generates it, in more than one piece, in all three
// streaming dialects, and the pieces make the answer given without streaming; with a stop string the answer
// is cut first and sent whole.
func TestTaskStreaming(t *testing.T) {
	_, _, base, _ := serveOllama(t, "unused", fastslow.WithFlush(fastslow.FlushPolicy{}))
	q := facts[2].Question
	qj, _ := json.Marshal(q)
	want, _ := generate(t, base, "fastslow/people", q)
	for _, tc := range []struct{ path, body string }{
		{"/api/generate", `{"model":"fastslow/people","prompt":` + string(qj) + `}`},
		{"/api/chat", `{"model":"fastslow/people","messages":[{"role":"user","content":` + string(qj) + `}]}`},
		{"/v1/chat/completions", `{"model":"fastslow/people","stream":true,"messages":[{"role":"user","content":` + string(qj) + `}]}`},
	} {
		pieces, ids := streamed(t, base+tc.path, tc.body, strings.HasPrefix(tc.path, "/v1/"))
		if got := strings.Join(pieces, ""); got != want || len(pieces) < 2 {
			t.Errorf("%s: streamed %q, want %q in more than one piece", tc.path, pieces, want)
		}
		if len(ids) != 1 || ids[""] {
			t.Errorf("%s: chunk ids %v, want one id on every chunk", tc.path, ids)
		}
	}
	stop := strings.TrimSpace(want)[1:3]
	pieces, _ := streamed(t, base+"/api/generate", `{"model":"fastslow/people","prompt":`+string(qj)+`,"options":{"stop":["`+stop+`"]}}`, false)
	if w, _, _ := strings.Cut(want, stop); len(pieces) != 1 || pieces[0] != w {
		t.Errorf("with stop %q: %q, want %q whole", stop, pieces, w)
	}
}
