// Package tower is the central API that sites enroll with and operators
// manage them through. Server serves the HTTP JSON API under /v1 (see
// routes.go and docs/openapi/tower.yaml); Open sets up a data directory
// with the embedded store, the CA and the first operator token.
//
// README.md beside this file explains the enrollment policy and its
// choices.
package tower

import (
	"context"
	"crypto/hpke"
	"crypto/tls"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/skerry/skerry/services/serve"
	"github.com/skerry/skerry/services/tower/ca"
	"github.com/skerry/skerry/services/tower/ektrust"
	"github.com/skerry/skerry/services/tower/store"
)

// Server is the tower's API.
type Server struct {
	store store.Store
	ca    *ca.CA
	log   *slog.Logger
	now   func() time.Time

	reportInterval   time.Duration
	challengeTTL     time.Duration
	pendingRetry     time.Duration
	siteCertValidity time.Duration
	maxPending       int
	ekRoots          *ektrust.Pool
	enrollRate       float64
	enrollBurst      int
	limiter          *limiter
	limits           serve.Limits
	escrowKey        hpke.PrivateKey // vaultescrow.go; escrowOnce sets it
	escrowOnce       sync.Once
	desired          *notifier // wakes long-polls of desired state
	rollouts         *rolloutDriver
	uplinkConfig     uplinkConfig
	uplink           *uplink // the embedded hub; nil without one
	secretKey        []byte  // seals stored secrets (secrets.go)

	registry *prometheus.Registry
	metrics  *metrics
	// metricsHandler serves the registry.
	metricsHandler http.Handler
	handler        http.Handler

	secretRing secretRing // rotation of secretKey (secrets_key.go)
}

// maxSources bounds the rate limiter's table of source addresses.
const maxSources = 1 << 16

// New returns a Server over st that issues certificates from authority.
func New(st store.Store, authority *ca.CA, opts ...Option) *Server {
	s := &Server{
		store:            st,
		ca:               authority,
		log:              slog.New(slog.DiscardHandler),
		now:              time.Now,
		reportInterval:   30 * time.Second,
		challengeTTL:     5 * time.Minute,
		pendingRetry:     30 * time.Second,
		siteCertValidity: 365 * 24 * time.Hour,
		maxPending:       10000,
		enrollRate:       1,
		enrollBurst:      30,
		limits:           serve.TowerLimits,
		registry:         prometheus.NewRegistry(),
		desired:          newNotifier(),
		rollouts:         newRolloutDriver(),
	}
	for _, o := range opts {
		o(s)
	}
	if s.secretKey == nil {
		s.secretKey = newSecretKey()
	}
	s.limiter = newLimiter(s.enrollRate, s.enrollBurst, maxSources, s.now)
	s.metrics = newMetrics(s)
	s.metricsHandler = promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})
	s.handler = s.routes()
	return s
}

// Handler returns the API's HTTP handler. Site endpoints need the request's
// TLS state: serve it with TLSConfig.
func (s *Server) Handler() http.Handler { return s.handler }

// TLSConfig returns the server TLS configuration: the server certificate,
// and client certificates verified against the tower CA when a client
// sends one (sites do; operators use tokens instead).
func (s *Server) TLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    s.ca.Pool(),
	}
}

// CA returns the tower's certificate authority.
func (s *Server) CA() *ca.CA { return s.ca }

// Janitor deletes expired challenges every interval until ctx ends. A used
// challenge is kept until it expires so a replay is reported as a replay.
func (s *Server) Janitor(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		var n int
		err := s.store.Update(ctx, func(tx store.Tx) (err error) {
			n, err = tx.DeleteChallenges(s.now())
			return err
		})
		if err != nil {
			s.log.Error("delete expired challenges", "err", err)
		} else if n > 0 {
			s.log.Debug("deleted expired challenges", "count", n)
		}
	}
}
