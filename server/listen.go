package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// ErrNeedToken is returned by Serve and CheckBind for a listener that is reachable from other machines
// while no token is configured.
var ErrNeedToken = errors.New("a non-loopback address needs a token")

// CheckBind refuses to serve on addr ("host:port") without a token unless the host is a loopback address:
// "localhost", 127.0.0.0/8 or ::1. An empty host means every interface, so it needs a token too.
func CheckBind(addr, token string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("server: address %q: %w", addr, err)
	}
	if token != "" || isLoopback(host) {
		return nil
	}
	return fmt.Errorf("server: %s: %w (set serve_token, e.g. FASTSLOW_SERVE_TOKEN, or bind 127.0.0.1)", addr, ErrNeedToken)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Serve answers requests on ln until ctx is done, then shuts down, letting requests in flight finish for up
// to 10 seconds. It refuses a listener whose address is not loopback when no token is configured.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if err := CheckBind(ln.Addr().String(), s.cfg.Token); err != nil {
		return err
	}
	// No ReadTimeout: net/http cancels a request's context when the read deadline passes during its answer,
	// and answers (streams included) take as long as the model takes.
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shut); err != nil {
		return fmt.Errorf("server: shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
