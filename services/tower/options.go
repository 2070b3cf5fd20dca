package tower

import (
	"log/slog"
	"time"

	"github.com/skerry/skerry/services/serve"
	"github.com/skerry/skerry/services/tower/ektrust"
)

// Option configures a Server.
type Option func(*Server)

// WithEKRoots sets the TPM makers whose EK certificates the tower trusts.
// Without it every TPM is a software identity.
func WithEKRoots(p *ektrust.Pool) Option { return func(s *Server) { s.ekRoots = p } }

// WithLogger sets the logger; every refusal is logged at level WARN.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithClock replaces time.Now, for tests of expiry.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithReportInterval sets the status report interval suggested to sites
// (default 30s). A site is online while its last report is younger than
// three intervals.
func WithReportInterval(d time.Duration) Option { return func(s *Server) { s.reportInterval = d } }

// WithChallengeTTL sets how long an enrollment challenge may be finished
// (default 5 minutes).
func WithChallengeTTL(d time.Duration) Option { return func(s *Server) { s.challengeTTL = d } }

// WithPendingRetry sets the retry delay suggested to pending sites
// (default 30s).
func WithPendingRetry(d time.Duration) Option { return func(s *Server) { s.pendingRetry = d } }

// WithSiteCertValidity sets how long site certificates are valid (default
// one year).
func WithSiteCertValidity(d time.Duration) Option { return func(s *Server) { s.siteCertValidity = d } }

// WithEnrollRateLimit limits the enrollment endpoints per source address:
// burst requests at once, then rate a second (default 1/s, burst 30);
// rate 0 turns the limit off.
func WithEnrollRateLimit(rate float64, burst int) Option {
	return func(s *Server) { s.enrollRate, s.enrollBurst = rate, burst }
}

// WithLimits replaces serve.TowerLimits, for tests and benchmarks of
// slow clients.
func WithLimits(l serve.Limits) Option { return func(s *Server) { s.limits = l } }

// WithMaxPending bounds the pending queue (default 10000): a box with a TPM
// but no claim or token can add itself, so the queue needs a limit.
func WithMaxPending(n int) Option { return func(s *Server) { s.maxPending = n } }
