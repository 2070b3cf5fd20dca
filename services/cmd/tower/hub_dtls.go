package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"

	"github.com/skerry/skerry/services/hub"
)

// serveDTLS starts the hub's DTLS listener when -dtls-listen is set; done
// closes once its sessions have ended (after ctx), so the store can close.
func serveDTLS(ctx context.Context, c hubConfig, cert tls.Certificate, pool *x509.CertPool, admit func(string, bool, *x509.Certificate) error, recv *hub.Receiver, stdout io.Writer, log *slog.Logger) (done <-chan struct{}, err error) {
	ch := make(chan struct{})
	if c.dtlsListen == "" {
		close(ch)
		return ch, nil
	}
	s, err := hub.ListenDTLS(hub.DTLSConfig{Listen: c.dtlsListen, Cert: cert, Sites: pool, Log: log, Admit: admit}, recv)
	if err != nil {
		return nil, err
	}
	go func() {
		defer close(ch)
		if err := s.Serve(ctx); err != nil {
			log.Error("dtls listener", "err", err)
		}
	}()
	fmt.Fprintf(stdout, "hub serving dtls://%s\n", s.Addr())
	log.Info("serving dtls", "listen", s.Addr())
	return ch, nil
}
