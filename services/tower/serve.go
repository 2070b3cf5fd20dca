package tower

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Serve serves the API over TLS on ln until ctx ends, with a fresh server
// certificate from the tower CA for hosts (names or IP addresses the
// sites and operators dial), then shuts down within five seconds.
func (s *Server) Serve(ctx context.Context, ln net.Listener, hosts []string) error {
	leaf, key, err := s.ca.ServerCert(hosts)
	if err != nil {
		return err
	}
	cert := tls.Certificate{Certificate: [][]byte{leaf.Raw, s.ca.Cert.Raw}, PrivateKey: key, Leaf: leaf}
	srv := &http.Server{
		Handler:           s.handler,
		TLSConfig:         s.TLSConfig(cert),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		// Refusals at the TLS layer (a certificate from another CA, say)
		// reach the log through here.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	go s.Janitor(ctx, time.Minute)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(tls.NewListener(ln, srv.TLSConfig)) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
