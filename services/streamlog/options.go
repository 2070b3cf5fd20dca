package streamlog

import (
	"log/slog"
	"time"
)

// Option configures Open.
type Option func(*options)

type options struct {
	log           *slog.Logger
	now           func() time.Time
	segmentBytes  int64
	allocSize     int
	maxBatchBytes int64
	compactChunk  int64
	tick          time.Duration
	// beforeCommit, when set, runs before each commit; an error fails
	// the commit as a failed fsync would (failure-injection tests).
	beforeCommit func() error
}

func defaultOptions() options {
	return options{
		log:           slog.Default(),
		now:           time.Now,
		segmentBytes:  32 << 20,
		allocSize:     4 << 20,
		maxBatchBytes: 8 << 20,
		compactChunk:  4 << 20,
		tick:          time.Second,
	}
}

// WithLogger sets the logger; the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithClock replaces time.Now, for tests of age retention.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithSegmentBytes sets the size at which the active segment file is sealed
// and a new one started (default 32 MiB). Smaller segments free disk in
// finer steps; the disk bound in README.md grows with twice this size.
func WithSegmentBytes(n int64) Option {
	return func(o *options) {
		o.segmentBytes = n
		o.allocSize = int(min(max(n/8, 64<<10), 4<<20))
		o.compactChunk = min(max(n/8, 64<<10), 4<<20)
	}
}

// WithMaxBatchBytes bounds how many bytes of appends one group commit takes
// (default 8 MiB): the bound of the writer's memory and of commit latency.
func WithMaxBatchBytes(n int64) Option { return func(o *options) { o.maxBatchBytes = n } }

// WithTick sets how often the writer enforces age retention and samples
// rates when idle (default 1s).
func WithTick(d time.Duration) Option { return func(o *options) { o.tick = d } }
