package qemu

import (
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Option configures how the bench runs a VM (as opposed to Config, which
// says what the VM is).
type Option func(*options)

type options struct {
	log           *slog.Logger
	mirror        func(line string)
	expectTimeout time.Duration
	keepDir       bool
}

// DefaultExpectTimeout bounds every expect whose context has no earlier
// deadline. Under TCG an arm64 UEFI boot to userspace takes a minute or
// more on a busy CI machine; past this a test is stuck, not slow.
const DefaultExpectTimeout = 5 * time.Minute

func defaultOptions() options {
	return options{
		log:           slog.New(slog.DiscardHandler),
		expectTimeout: DefaultExpectTimeout,
	}
}

// WithLogger sets where the bench logs what it does: the QEMU command
// line, the forwarded ports, exits. The default discards.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithExpectTimeout sets the longest any one expect waits (default
// DefaultExpectTimeout); a context deadline that comes sooner still wins.
func WithExpectTimeout(d time.Duration) Option {
	return func(o *options) { o.expectTimeout = d }
}

// WithConsoleWriter copies the console to w as it arrives, one line at a
// time, each line prefixed with prefix. Writes come from the console's
// goroutine, which Close waits for, so none happens after Close returns;
// share w between VMs only if it is safe for concurrent use.
func WithConsoleWriter(w io.Writer, prefix string) Option {
	return func(o *options) {
		o.mirror = func(line string) { fmt.Fprintf(w, "%s%s\n", prefix, line) }
	}
}

// WithConsoleLog is WithConsoleWriter for a printf-style logger such as a
// test's t.Logf: WithConsoleLog(t.Logf, "arm64| ").
func WithConsoleLog(logf func(format string, args ...any), prefix string) Option {
	return func(o *options) {
		o.mirror = func(line string) { logf("%s%s", prefix, line) }
	}
}

// WithKeepDir leaves the VM's temporary directory (overlay, firmware
// variables, TPM state and logs) in place after Close, for a post-mortem.
// Close logs where it is.
func WithKeepDir() Option { return func(o *options) { o.keepDir = true } }
