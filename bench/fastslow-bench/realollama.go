package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/internal/atomicfile"
	"github.com/ollama/ollama/api"
)

// ollamaServer is an Ollama server this command started, on 127.0.0.1 with a model store of its own.
type ollamaServer struct {
	bin, host, models, version string
	cmd                        *exec.Cmd
	client                     *ollama.Client
	api                        *api.Client
	logPath                    string
}

// startOllama starts bin serve on 127.0.0.1:port (a free port when 0) with its models under dir and waits
// until it answers.
func startOllama(ctx context.Context, bin string, port int, dir string) (*ollamaServer, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%w (build it with: OLLAMA_FLAVOR=native OLLAMA_EXTRA_CGO_FLAGS=\"-O3 -march=native\" "+
			".ci/build-ollama v0.17.4 ~/.cache/fastslow)", err)
	}
	if port == 0 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	s := &ollamaServer{bin: bin, host: fmt.Sprintf("127.0.0.1:%d", port), models: filepath.Join(dir, "models"),
		logPath: filepath.Join(dir, "serve.log")}
	if err := os.MkdirAll(s.models, 0o755); err != nil {
		return nil, err
	}
	logf, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	s.cmd = exec.Command(bin, "serve")
	s.cmd.Env = append(os.Environ(), "OLLAMA_HOST="+s.host, "OLLAMA_MODELS="+s.models, "OLLAMA_NUM_PARALLEL=1",
		"OLLAMA_MAX_LOADED_MODELS=1", "OLLAMA_KEEP_ALIVE=30m", "OLLAMA_NOPRUNE=1")
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	if s.client, err = ollama.New(s.host, ollama.Options{ModelsDir: s.models, Timeout: 30 * time.Minute}); err != nil {
		s.stop()
		return nil, err
	}
	u, _ := url.Parse("http://" + s.host)
	s.api = api.NewClient(u, &http.Client{Timeout: 30 * time.Minute})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err = s.client.Ping(ctx); err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.stop()
			return nil, fmt.Errorf("%s serve did not answer on %s: %w (log %s)", bin, s.host, err, s.logPath)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if s.version, err = s.client.Version(ctx); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// describe names the server for the report.
func (s *ollamaServer) describe() string {
	return fmt.Sprintf("Ollama %s (%s) on %s", s.version, s.bin, s.host)
}

// stop ends the server process this command started.
func (s *ollamaServer) stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

func (rb *realBench) stopOllama() { rb.ollama.stop() }

// quantize has Ollama quantize the GGUF src to typ (q4_K_M, q8_0) with the command users run,
// 'ollama create --quantize' from a Modelfile, then copies the model blob Ollama wrote to dst.
func (s *ollamaServer) quantize(ctx context.Context, src, typ, dst string) error {
	name := "fastslow-bench-" + strings.ToLower(strings.TrimSuffix(filepath.Base(dst), ".gguf"))
	mf := filepath.Join(filepath.Dir(s.models), name+".Modelfile")
	if err := os.WriteFile(mf, []byte("FROM "+src+"\n"), 0o644); err != nil {
		return err
	}
	q := typ
	if typ == "q4_k_m" {
		q = "q4_K_M" // as users type it
	}
	cmd := exec.CommandContext(ctx, s.bin, "create", name, "--quantize", q, "-f", mf)
	cmd.Env = append(os.Environ(), "OLLAMA_HOST="+s.host)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %w\n%s", cmd.Args, err, tail(string(out), 1000))
	}
	blob, err := s.client.ResolveGGUF(ctx, name)
	if err != nil {
		return err
	}
	if err := copyFile(blob, dst); err != nil {
		return err
	}
	return s.client.Delete(ctx, name) // the Modelfile's FROM blob stays; forward runs create from dst
}

// copyFile copies src to dst so that dst is complete or absent (internal/atomicfile).
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return atomicfile.WriteFile(dst, 0o644, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

// model creates (or replaces) name from the GGUF at path, unquantized, for prompt evaluation.
func (s *ollamaServer) model(ctx context.Context, name, path string) error {
	return s.client.CreateFromGGUF(ctx, name, path, ollama.CreateOptions{SkipLoadCheck: true})
}

// promptEval evaluates text as a raw prompt (BOS added by the runner) for one generated token, on threads
// threads, and returns the server's own prompt_eval_count and tokens per second from prompt_eval_duration.
func (s *ollamaServer) promptEval(ctx context.Context, name, text string, threads, numCtx int) (int, float64, error) {
	stream := false
	req := &api.GenerateRequest{Model: name, Prompt: text, Raw: true, Stream: &stream,
		Options: map[string]any{"num_predict": 1, "temperature": 0, "num_thread": threads, "num_ctx": numCtx}}
	var resp api.GenerateResponse
	if err := s.api.Generate(ctx, req, func(r api.GenerateResponse) error { resp = r; return nil }); err != nil {
		return 0, 0, fmt.Errorf("ollama %s: generate: %w", s.host, err)
	}
	m := resp.Metrics
	if m.PromptEvalCount == 0 || m.PromptEvalDuration <= 0 {
		return 0, 0, errors.New("ollama: no prompt evaluation reported")
	}
	return m.PromptEvalCount, float64(m.PromptEvalCount) / m.PromptEvalDuration.Seconds(), nil
}

// cpuFeatures returns the CPU features ggml reports in the server's log when a runner starts (the line with
// "AVX2 ="), or "".
func (s *ollamaServer) cpuFeatures() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.Index(line, "CPU :"); i >= 0 && strings.Contains(line, "AVX") {
			return strings.TrimSpace(line[i:])
		}
	}
	return ""
}
