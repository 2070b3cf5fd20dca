package tower

import (
	"context"
	"crypto/tls"
	"net"
	"time"

	"github.com/skerry/skerry/services/serve"
)

// Serve serves the API over TLS on ln until ctx ends, with a fresh server
// certificate from the tower CA for hosts (names or IP addresses the
// sites and operators dial), under serve.TowerLimits: bounded
// connections and requests in flight, deadlines for slow headers and
// bodies, so memory stays bounded whatever clients do (docs/benchmarks.md
// has the figures). It shuts down gracefully when ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener, hosts []string) error {
	leaf, key, err := s.ca.ServerCert(hosts)
	if err != nil {
		return err
	}
	cert := tls.Certificate{Certificate: [][]byte{leaf.Raw, s.ca.Cert.Raw}, PrivateKey: key, Leaf: leaf}
	stopUplink, err := s.serveUplink(cert)
	if err != nil {
		return err
	}
	defer stopUplink()
	go s.Janitor(ctx, time.Minute)
	go s.runRollouts(ctx)
	// Refusals at the TLS layer (a certificate from another CA, say)
	// reach the log through serve.WithLogger.
	return serve.New(s.handler, s.limits, serve.WithTLS(s.TLSConfig(cert)), serve.WithLogger(s.log)).Serve(ctx, ln)
}
