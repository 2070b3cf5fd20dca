package supervisor

import (
	"log/slog"
	"time"
)

// Option configures a Supervisor.
type Option func(*config)

type config struct {
	log        *slog.Logger
	cgroupRoot string
	sink       func(service string, line []byte)
	ringSize   int
	backoff    Backoff
	reaper     *Reaper
	clock      Clock
}

// Backoff is the restart policy after a service exits on its own: the first
// restart waits Min, each further one twice as long up to Max, and a run that
// lasted Stable or longer resets the wait to Min.
type Backoff struct {
	Min, Max, Stable time.Duration
}

// Default backoff: a quick first retry, and a crash loop settles at one
// attempt every 30 seconds.
const (
	DefaultBackoffMin    = 250 * time.Millisecond
	DefaultBackoffMax    = 30 * time.Second
	DefaultBackoffStable = 10 * time.Second
)

// withDefaults fills the zero fields.
func (b Backoff) withDefaults() Backoff {
	if b.Min <= 0 {
		b.Min = DefaultBackoffMin
	}
	if b.Max <= 0 {
		b.Max = max(DefaultBackoffMax, b.Min)
	}
	if b.Stable <= 0 {
		b.Stable = DefaultBackoffStable
	}
	return b
}

func (b Backoff) next(d time.Duration) time.Duration {
	return min(2*d, b.Max)
}

// WithLogger sets where the supervisor logs what it does (not the services'
// output: see WithLogSink). The default discards.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithCgroupRoot puts each service in the cgroup2 directory <dir>/<name>,
// with its MemoryMax and PidsMax. dir is created when missing; its parent
// must already be on cgroup2, e.g. dir = /sys/fs/cgroup/skerry.
func WithCgroupRoot(dir string) Option { return func(c *config) { c.cgroupRoot = dir } }

// WithLogSink receives every line the services print, without its newline,
// in addition to the ring. It is called from the service's output goroutine
// and must not block for long; it may keep line.
func WithLogSink(f func(service string, line []byte)) Option {
	return func(c *config) { c.sink = f }
}

// WithRingSize sets how many bytes of output are kept per service
// (default DefaultRingSize).
func WithRingSize(n int) Option { return func(c *config) { c.ringSize = n } }

// WithBackoff sets the restart policy; zero fields keep their default.
func WithBackoff(b Backoff) Option { return func(c *config) { c.backoff = b } }

// WithReaper starts and collects every service through r. init must use
// it: as PID 1 it runs a Reaper, and without this option the supervisor's
// own waits would race with it.
func WithReaper(r *Reaper) Option { return func(c *config) { c.reaper = r } }
