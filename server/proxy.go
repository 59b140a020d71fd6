package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

// newProxy returns the reverse proxy to the real Ollama at u: requests pass unchanged (but our own token,
// which is not the upstream's), and every chunk of a streamed answer is flushed as it arrives.
func (s *Server) newProxy(u *url.URL) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			if s.cfg.Token != "" {
				pr.Out.Header.Del("Authorization")
			}
		},
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				writeError(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is over the limit of %d bytes", tooBig.Limit))
				return
			}
			if r.Context().Err() != nil {
				return // the client went away
			}
			writeError(w, r, http.StatusBadGateway, fmt.Sprintf("the Ollama server at %s: %v", u, err))
		},
	}
}

// passthrough sends the request to the real Ollama unchanged.
func (s *Server) passthrough(w http.ResponseWriter, r *http.Request) {
	if s.proxy == nil {
		writeError(w, r, http.StatusBadGateway, "no Ollama server behind this fastslow server for "+r.URL.Path)
		return
	}
	s.proxy.ServeHTTP(w, r)
}

// forward passes on a request whose body was already read.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, body []byte) {
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	s.passthrough(w, r)
}

// upstreamJSON GETs path from the real Ollama and decodes its JSON answer into v.
func (s *Server) upstreamJSON(r *http.Request, path string, v any) error {
	u := s.upBase.JoinPath(path)
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("the Ollama server at %s: %w", s.upBase, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("the Ollama server at %s: %s: %s", s.upBase, resp.Status, bytes.TrimSpace(msg))
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("the Ollama server at %s: %s: %w", s.upBase, path, err)
	}
	return nil
}
