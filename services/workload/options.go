package workload

import (
	"log/slog"
	"time"

	"github.com/skerry/skerry/services/api/workloadapi"
	"github.com/skerry/skerry/services/streamlog/client"
)

// Option configures New.
type Option func(*options)

type options struct {
	log        *slog.Logger
	cgroupRoot string
	volumeRoot string
	logRoot    string
	snapshot   string
	minBackoff time.Duration
	stopGrace  time.Duration
	registry   func(tenant string) Registry
	streamlog  *client.Client
	quota      func(tenant string) workloadapi.Resources
	reserved   []ReservedPort // the site's own host ports (ports.go)
	// vaultSocket and vaultToken reach the vault for secrets (secrets.go).
	vaultSocket, vaultToken string
}

func defaults() options {
	return options{
		log:        slog.New(slog.DiscardHandler),
		cgroupRoot: "/tenants",
		volumeRoot: "/perm/workload/volumes",
		logRoot:    "/perm/workload/logs",
		minBackoff: time.Second,
		stopGrace:  10 * time.Second,
	}
}

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithCgroupRoot sets the cgroup (v2, relative to the cgroup root) under
// which every tenant gets a subtree: ROOT/<tenant>/<app>.
func WithCgroupRoot(p string) Option { return func(o *options) { o.cgroupRoot = p } }

// WithVolumeRoot sets where apps' volumes live: ROOT/<tenant>/<app>/<volume>.
func WithVolumeRoot(p string) Option { return func(o *options) { o.volumeRoot = p } }

// WithLogRoot sets where apps' output goes: ROOT/<tenant>/<app>.log.
func WithLogRoot(p string) Option { return func(o *options) { o.logRoot = p } }

// WithSnapshotter names containerd's snapshotter (default: containerd's).
func WithSnapshotter(name string) Option { return func(o *options) { o.snapshot = name } }

// WithBackoff sets the first wait before a restart; it doubles up to the
// spec's restart.maxBackoff.
func WithBackoff(min time.Duration) Option { return func(o *options) { o.minBackoff = min } }

// WithStopGrace sets how long a stopping app has between SIGTERM and
// SIGKILL.
func WithStopGrace(d time.Duration) Option { return func(o *options) { o.stopGrace = d } }

// WithStreamlog ships every app's output (its log file) into the stream
// log topic LogTopic(tenant, app), with a client holding the system token.
func WithStreamlog(c *client.Client) Option { return func(o *options) { o.streamlog = c } }
