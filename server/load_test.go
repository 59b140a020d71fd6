package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/internal/ollamatest"
	"github.com/fastslow/fastslow/server"
)

// envInt reads a positive integer from the environment, else def.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// BenchmarkServeLoad is the load check of `fastslow serve` (run it once: -benchtime 1x):
//
//	OLLAMA_HOST=127.0.0.1:11434 go test -run '^$' -bench BenchmarkServeLoad -benchtime 1x ./server/
//
// FASTSLOW_LOAD_CLIENTS (32) clients loop for FASTSLOW_LOAD_SECONDS (60) on loopback against a learner on the
// embedded model served by the real Ollama at OLLAMA_HOST. Each iteration of a client sends, in a random
// order, the same non-streaming generate three times: twice directly to Ollama (the task's served prompt on
// the served model, exactly what fastslow sends) and once through fastslow (model fastslow/people, the bare
// question), then feedback on fastslow's answer. Corrections start weight rounds in the background (after 8
// of them; each round trains FASTSLOW_LOAD_STEPS, 200, steps), so rounds run during the load; the share of
// the window with a round running is reported. FASTSLOW_LOAD_ROUNDS=0 runs the same load with no round.
//
// It reports: feedback sent (answered 200 with a record id) and stored (records in the prompt store after the
// run; lost = sent - stored), and latency percentiles of the direct requests, of fastslow's, of the paired
// difference fastslow - direct, of direct - direct (the noise floor of a pair under this load), and
// fastslow's overhead proper: each fastslow request's time at the client minus the time its own request
// spent in Ollama (timed by the learner's Ollama client), i.e. the loopback hop, the handler, the prompt
// rendering and the store lookups.
func BenchmarkServeLoad(b *testing.B) {
	clients, seconds, steps := envInt("FASTSLOW_LOAD_CLIENTS", 32), envInt("FASTSLOW_LOAD_SECONDS", 60), envInt("FASTSLOW_LOAD_STEPS", 200)
	ctx := context.Background()
	c := ollamatest.Client(b)
	flush := fastslow.FlushPolicy{After: 8}
	if os.Getenv("FASTSLOW_LOAD_ROUNDS") == "0" { // the same load with no weight round, for comparison
		flush = fastslow.FlushPolicy{}
	}
	// The learner's own client times its requests to Ollama, so each fastslow answer's upstream time is known.
	up := &upstreamTimer{base: http.DefaultTransport}
	lc, err := ollama.New(c.Host(), ollama.Options{HTTPClient: &http.Client{Transport: up}})
	if err != nil {
		b.Fatal(err)
	}
	var roundSince atomic.Int64 // unix nanos when the running round started, 0 if none
	var roundBusy atomic.Int64  // nanoseconds with a round running, of rounds that ended
	var roundsDone, roundsFailed atomic.Int64
	l, err := fastslow.Open(ctx, b.TempDir(), fastslow.WithOllamaClient(lc),
		fastslow.WithFlush(flush),
		fastslow.WithEvents(func(e fastslow.Event) {
			switch e.Stage {
			case "round":
				roundSince.Store(time.Now().UnixNano())
			case "done", "failed":
				if s := roundSince.Swap(0); s != 0 {
					roundBusy.Add(time.Now().UnixNano() - s)
				}
				if e.Stage == "done" {
					roundsDone.Add(1)
				} else {
					roundsFailed.Add(1)
					b.Logf("round failed: %v", e.Err)
				}
			}
		}),
		fastslow.WithOptions(func(o *fastslow.Options) {
			o.Slow.Steps, o.FSTSteps, o.Slow.Seed = steps, steps, 1
		}))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	s, err := server.New(server.Config{Learner: l, Ollama: c})
	if err != nil {
		b.Fatal(err)
	}
	upstream := map[string]time.Duration{} // answer id → time its request spent in Ollama
	var upMu sync.Mutex
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := &upTime{}
		s.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), upKey{}, t)))
		if id := w.Header().Get(server.IDHeader); id != "" {
			upMu.Lock()
			upstream[id] = t.get()
			upMu.Unlock()
		}
	}))
	defer hs.Close()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * clients}}
	osrv := l.Server().(*fastslow.OllamaServer)
	if _, err := osrv.BaseModel(ctx); err != nil { // created once, before the clock starts
		b.Fatal(err)
	}
	const task, n = "people", 8
	// served returns the model and prompt fastslow would send to Ollama for q right now.
	served := func(q string) (string, string, error) {
		model := l.Slow().Handle()
		if model == "" {
			var err error
			if model, err = osrv.BaseModel(ctx); err != nil {
				return "", "", err
			}
		}
		p, err := l.Prompt(ctx, task, q)
		return model, p, err
	}
	direct := func(q string) (time.Duration, error) {
		model, p, err := served(q)
		if err != nil {
			return 0, err
		}
		start := time.Now()
		_, err = c.Generate(ctx, model, p, ollama.GenerateOptions{NumPredict: n, Raw: true})
		return time.Since(start), err
	}
	through := func(q string) (time.Duration, string, error) {
		body, _ := json.Marshal(map[string]any{"model": "fastslow/" + task, "prompt": q, "stream": false, "options": map[string]any{"num_predict": n}})
		start := time.Now()
		resp, err := hc.Post(hs.URL+"/api/generate", "application/json", bytes.NewReader(body))
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		var r struct {
			FastslowID string `json:"fastslow_id"`
		}
		err = json.NewDecoder(resp.Body).Decode(&r)
		d := time.Since(start)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %s", resp.Status)
		}
		return d, r.FastslowID, err
	}
	feedback := func(id, answer string) (uint64, error) {
		body, _ := json.Marshal(map[string]any{"id": id, "score": 0, "answer": answer})
		resp, err := hc.Post(hs.URL+"/fastslow/feedback", "application/json", bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		var r server.FeedbackResponse
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("feedback: %s %v", resp.Status, err)
		}
		return r.Record, nil
	}

	var (
		mu                          sync.Mutex
		dDirect, dFast, diff, floor []float64 // milliseconds
		overhead                    []float64 // fastslow's time minus its request's time in Ollama, ms
		records                     = map[uint64]bool{}
		errs                        []error
	)
	b.ResetTimer()
	deadline := time.Now().Add(time.Duration(seconds) * time.Second)
	window := time.Now()
	var wg sync.WaitGroup
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; time.Now().Before(deadline); i++ {
				f := facts[(w+i)%len(facts)]
				var a, b2, fs time.Duration
				var id string
				var err error
				order := rng.Perm(3)
				for _, k := range order {
					switch k {
					case 0:
						a, err = direct(f.Question)
					case 1:
						b2, err = direct(f.Question)
					case 2:
						fs, id, err = through(f.Question)
					}
					if err != nil {
						break
					}
				}
				var rec uint64
				if err == nil {
					rec, err = feedback(id, f.Answer)
				}
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					dDirect = append(dDirect, ms(a), ms(b2))
					dFast = append(dFast, ms(fs))
					diff = append(diff, ms(fs)-ms(a))
					upMu.Lock()
					overhead = append(overhead, ms(fs)-ms(upstream[id]))
					upMu.Unlock()
					floor = append(floor, ms(b2)-ms(a))
					records[rec] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(window)
	if s := roundSince.Load(); s != 0 { // a round still running at the end counts up to now
		roundBusy.Add(time.Now().UnixNano() - max(s, window.UnixNano()))
	}
	b.StopTimer()
	stored, err := l.Store().ListFeedback(ctx, task)
	if err != nil {
		b.Fatal(err)
	}
	found := 0
	for _, fb := range stored {
		if records[fb.ID] {
			found++
		}
	}
	b.ReportMetric(float64(len(records)), "feedback-sent")
	b.ReportMetric(float64(found), "feedback-stored")
	b.ReportMetric(float64(len(records)-found), "feedback-lost")
	b.ReportMetric(float64(len(errs)), "errors")
	b.ReportMetric(float64(roundsDone.Load()), "rounds-done")
	b.ReportMetric(float64(roundBusy.Load())/float64(elapsed.Nanoseconds()), "round-share")
	for _, m := range []struct {
		name string
		xs   []float64
	}{{"direct", dDirect}, {"fastslow", dFast}, {"added", diff}, {"floor", floor}, {"overhead", overhead}} {
		b.ReportMetric(pct(m.xs, 0.5), m.name+"-p50-ms")
		b.ReportMetric(pct(m.xs, 0.99), m.name+"-p99-ms")
	}
	b.Logf("%d clients, %s: %d iterations, %d errors (first: %v); rounds done %d, failed %d; load average %s",
		clients, elapsed.Round(time.Second), len(dFast), len(errs), firstErr(errs), roundsDone.Load(), roundsFailed.Load(), loadavg())
	if found != len(records) {
		b.Errorf("%d feedback records sent, %d stored", len(records), found)
	}
}

// upKey marks a request context with the *upTime that the learner's Ollama requests add their time to.
type upKey struct{}

type upTime struct {
	mu sync.Mutex
	d  time.Duration
}

func (u *upTime) add(d time.Duration) { u.mu.Lock(); u.d += d; u.mu.Unlock() }
func (u *upTime) get() time.Duration  { u.mu.Lock(); defer u.mu.Unlock(); return u.d }

// upstreamTimer is a transport that adds each request's time, until its body is closed, to the request
// context's *upTime.
type upstreamTimer struct{ base http.RoundTripper }

func (u *upstreamTimer) RoundTrip(req *http.Request) (*http.Response, error) {
	t, _ := req.Context().Value(upKey{}).(*upTime)
	start := time.Now()
	resp, err := u.base.RoundTrip(req)
	if t == nil {
		return resp, err
	}
	if err != nil {
		t.add(time.Since(start))
		return resp, err
	}
	resp.Body = &timedBody{ReadCloser: resp.Body, done: func() { t.add(time.Since(start)) }}
	return resp, nil
}

type timedBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *timedBody) Close() error {
	b.once.Do(b.done)
	return b.ReadCloser.Close()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// pct is the q-quantile of xs (nearest rank).
func pct(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func firstErr(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errs[0]
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return string(bytes.TrimSpace(b))
}

// instantServer answers every prompt at once with a fixed text: it stands in for Ollama in
// BenchmarkHandlerOverhead, which times fastslow's own work per request and nothing else.
type instantServer struct{}

func (instantServer) Name() string { return "instant" }
func (instantServer) Deploy(context.Context, string, string) (string, error) {
	return "", fmt.Errorf("instantServer deploys nothing")
}
func (instantServer) Generate(context.Context, string, string, int) (string, error) {
	return " Saldune", nil
}
func (instantServer) Remove(context.Context, string) error { return nil }

// BenchmarkHandlerOverhead times one non-streaming /api/generate of a task through the server over loopback
// HTTP — decoding, the task lookup, the prompt (retrieval over 200 notes, token budget), the answer's
// bookkeeping, encoding — with a server that answers instantly in place of Ollama, so only fastslow's own
// work is timed. It reports the median and p99 of the requests besides ns/op.
//
//	go test -run '^$' -bench BenchmarkHandlerOverhead ./server/
func BenchmarkHandlerOverhead(b *testing.B) {
	ctx := context.Background()
	l, err := fastslow.Open(ctx, b.TempDir(), fastslow.WithFlush(fastslow.FlushPolicy{}),
		fastslow.WithPolicy(fastslow.PolicyPrompts),
		fastslow.WithOptions(func(o *fastslow.Options) { o.Server = instantServer{} }))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	for i := range 200 {
		q := fmt.Sprintf("Q: Where was Person%d Name%d born?\nA:", i, i%17)
		if _, err := l.Feedback(ctx, fastslow.Correction{Task: "people", Input: q, Answer: fmt.Sprintf("City%d", i)}); err != nil {
			b.Fatal(err)
		}
	}
	s, err := server.New(server.Config{Learner: l})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(s)
	defer hs.Close()
	body := []byte(`{"model":"fastslow/people","prompt":"Q: Where was Person7 Name7 born?\nA:","stream":false}`)
	var lat []float64
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		resp, err := http.Post(hs.URL+"/api/generate", "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %s", resp.Status)
		}
		lat = append(lat, ms(time.Since(start)))
	}
	b.ReportMetric(pct(lat, 0.5), "p50-ms")
	b.ReportMetric(pct(lat, 0.99), "p99-ms")
}
