package supervisor

import "time"

// Clock is the supervisor's sense of time: when a run started and how long
// it lasted (a stable run resets the backoff), and the timer of each
// backoff delay. Tests give a fake one (WithClock) to check the restart
// policy without sleeping; the stop and drain timeouts, which bound real
// processes, always use real time.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is a Clock's timer.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
}

// WithClock sets the supervisor's clock (default: real time).
func WithClock(c Clock) Option { return func(cfg *config) { cfg.clock = c } }

type realClock struct{}

func (realClock) Now() time.Time                 { return time.Now() }
func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time { return r.t.C }
func (r realTimer) Stop() bool          { return r.t.Stop() }
