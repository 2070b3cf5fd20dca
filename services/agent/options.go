package agent

import (
	"log/slog"
	"time"

	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/internal/tpm"
)

// Defaults of a real box.
const (
	DefaultHome = contract.PermMount + "/agent"
	DefaultTPM  = tpm.DefaultPath
	// DefaultRetry is how long a pending box waits between enrollments when
	// the tower does not say, and the first wait after a failure.
	DefaultRetry = 10 * time.Second
	// DefaultMaxBackoff caps the wait after repeated failures (tower down,
	// network out).
	DefaultMaxBackoff = 5 * time.Minute
	// DefaultSlowRetry is the wait after an answer only a person can change:
	// rejected, a used-up token, an EK already registered. The box keeps
	// asking, slowly, so that an operator's change of mind reaches it
	// without anyone touching it.
	DefaultSlowRetry = 10 * time.Minute
	// DefaultReportInterval is used when the tower does not say.
	DefaultReportInterval = 30 * time.Second
)

// Option configures an Agent.
type Option func(*Agent)

// WithHome sets the directory the identity is kept in (default
// /perm/agent).
func WithHome(dir string) Option { return func(a *Agent) { a.home = dir } }

// WithTPM sets the TPM: a device (default /dev/tpmrm0) or "unix:PATH" for a
// simulator's command socket.
func WithTPM(path string) Option { return func(a *Agent) { a.tpmPath = path } }

// WithSoftwareIdentity lets a box without a TPM enroll with a software key.
// Off by default: a box whose TPM fails must not quietly fall back to a
// weaker identity.
func WithSoftwareIdentity(allow bool) Option { return func(a *Agent) { a.allowSoftware = allow } }

// WithHostname sets the hostname the box enrolls with (default the
// kernel's).
func WithHostname(h string) Option { return func(a *Agent) { a.hostname = h } }

// WithSerial sets the board serial number the box enrolls with (default
// read from the firmware, when it has one).
func WithSerial(s string) Option { return func(a *Agent) { a.serial = s } }

// WithVersions sets the agent and image versions the box reports.
func WithVersions(agent, image string) Option {
	return func(a *Agent) { a.agentVersion, a.imageVersion = agent, image }
}

// WithRetry sets the wait between enrollments while pending, overriding
// what the tower asks for, and the first wait after a failure.
func WithRetry(d time.Duration) Option { return func(a *Agent) { a.retry = d } }

// WithSlowRetry sets the wait after an answer only a person can change.
func WithSlowRetry(d time.Duration) Option { return func(a *Agent) { a.slowRetry = d } }

// WithReportInterval sets the status interval, overriding the tower's.
func WithReportInterval(d time.Duration) Option { return func(a *Agent) { a.reportEvery = d } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(a *Agent) { a.log = l } }

// WithReady sets what Run calls once it is running its loop: registered,
// enrolling, or idle. daemon.Ready in the service.
func WithReady(fn func() error) Option { return func(a *Agent) { a.ready = fn } }
