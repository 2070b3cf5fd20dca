package supervisor

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/skerry/skerry/services/contract"
)

// TestDependencyOrder checks that each service starts only once its
// dependency is ready, over both ways of saying so, and that shutdown runs
// in reverse.
func TestDependencyOrder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	events := "EVENTS=" + filepath.Join(dir, "events")
	sock := filepath.Join(dir, "b.ready")

	a := helperSpec(t, "a", "serve", events, "READY_DELAY_MS=150")
	a.Ready = ReadyNotify
	b := helperSpec(t, "b", "serve", events, "READY_DELAY_MS=100", "TOUCH="+sock)
	b.Ready, b.ReadyPath, b.DependsOn = ReadyPath, sock, []string{"a"}
	c := helperSpec(t, "c", "serve", events)
	c.Ready, c.DependsOn = ReadyNotify, []string{"b"}

	// Declared backwards: the supervisor must sort them.
	s, err := New([]Spec{c, b, a}, WithBackoff(Backoff{Min: 10 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	stop := runSupervisor(t, s)
	waitReady(t, s)
	for _, st := range s.Status() {
		if st.State != contract.StateRunning || st.PID == 0 {
			t.Errorf("%s: got state %q pid %d, want running with a pid", st.Name, st.State, st.PID)
		}
	}
	stop()

	want := []string{"start_a", "ready_a", "start_b", "ready_b", "start_c", "ready_c", "stop_c", "stop_b", "stop_a"}
	if diff := cmp.Diff(want, readEvents(t, filepath.Join(dir, "events"))); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	for _, st := range s.Status() {
		if st.State != contract.StateStopped || st.LastExit != "exit status 0" || st.Restarts != 0 {
			t.Errorf("%s after shutdown: got state %q, last exit %q, restarts %d, want stopped, exit status 0, 0", st.Name, st.State, st.LastExit, st.Restarts)
		}
	}
}

// TestRestartBackoff follows a crash loop on a fake clock: each run of
// the service exits when the test says, after as long on the clock as the
// test says, and each backoff delay is a timer the test fires. No
// assertion depends on how fast the machine is.
func TestRestartBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		backoff Backoff
		runs    []time.Duration // how long each run lasts, on the clock
		want    []time.Duration // the delay before each restart
	}{
		{
			name:    "doubles up to max",
			backoff: Backoff{Min: time.Second, Max: 4 * time.Second, Stable: time.Hour},
			runs:    []time.Duration{0, 0, 0, 0, 0},
			want:    []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second},
		},
		{
			name:    "stable run resets",
			backoff: Backoff{Min: time.Second, Max: 8 * time.Second, Stable: 10 * time.Second},
			runs:    []time.Duration{0, 0, 10 * time.Second, 0, 9 * time.Second},
			want:    []time.Duration{time.Second, 2 * time.Second, time.Second, 2 * time.Second, 4 * time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			events, goFile := filepath.Join(dir, "events"), filepath.Join(dir, "go")
			sp := helperSpec(t, "crash", "exitwhen", "CODE=1", "EVENTS="+events, "GO="+goFile)
			clock := newFakeClock()
			s, err := New([]Spec{sp}, WithBackoff(tt.backoff), WithClock(clock))
			if err != nil {
				t.Fatal(err)
			}
			runSupervisor(t, s)
			var got []time.Duration
			for i, run := range tt.runs {
				waitFor(t, 10*time.Second, fmt.Sprintf("run %d to start", i+1), func() bool { return len(readEvents(t, events)) > i })
				clock.Advance(run)
				if err := os.WriteFile(goFile, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				select {
				case d := <-clock.timers:
					got = append(got, d)
					clock.Advance(d)
				case <-time.After(10 * time.Second):
					t.Fatalf("no backoff timer after run %d: %+v", i+1, statusOf(t, s, "crash"))
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("backoff delays (-want +got):\n%s", diff)
			}
			waitFor(t, 10*time.Second, "the last restart", func() bool { return len(readEvents(t, events)) > len(tt.runs) })
			st := statusOf(t, s, "crash")
			if st.Restarts != len(tt.runs) || st.LastExit != "exit status 1" {
				t.Errorf("got restarts %d, last exit %q, want %d, exit status 1", st.Restarts, st.LastExit, len(tt.runs))
			}
		})
	}
}

// fakeClock is a Clock that moves only when told to. Each timer's
// duration is sent on timers when it is made.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	pending []*fakeTimer
	timers  chan time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), timers: make(chan time.Duration, 100)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	ft := &fakeTimer{c: make(chan time.Time, 1), at: c.now.Add(d)}
	c.pending = append(c.pending, ft)
	c.timers <- d
	return ft
}

// Advance moves the clock on and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	keep := c.pending[:0]
	for _, ft := range c.pending {
		if !ft.at.After(c.now) {
			select {
			case ft.c <- c.now:
			default:
			}
			continue
		}
		keep = append(keep, ft)
	}
	c.pending = keep
}

type fakeTimer struct {
	c  chan time.Time
	at time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }
func (t *fakeTimer) Stop() bool          { return true }

// TestExitNoRestart checks that exit status 125 stops the service for good,
// until an operator's Restart.
func TestExitNoRestart(t *testing.T) {
	t.Parallel()
	events := filepath.Join(t.TempDir(), "events")
	s, err := New([]Spec{helperSpec(t, "once", "exit", "CODE=125", "EVENTS="+events)},
		WithBackoff(Backoff{Min: 10 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	runSupervisor(t, s)
	want := contract.ServiceStatus{Name: "once", State: contract.StateStopped, LastExit: "exit status 125"}
	ignore := func(st contract.ServiceStatus) contract.ServiceStatus { st.StartedAt = time.Time{}; return st }
	waitFor(t, 5*time.Second, "stopped", func() bool { return statusOf(t, s, "once").State == contract.StateStopped })
	time.Sleep(200 * time.Millisecond) // many backoff periods
	if diff := cmp.Diff(want, ignore(statusOf(t, s, "once"))); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	if n := len(readEvents(t, events)); n != 1 {
		t.Errorf("got %d starts, want 1", n)
	}

	if err := s.Restart("once"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "second start", func() bool { return len(readEvents(t, events)) == 2 })
	waitFor(t, 5*time.Second, "stopped again", func() bool { return statusOf(t, s, "once").State == contract.StateStopped })
	if diff := cmp.Diff(want, ignore(statusOf(t, s, "once"))); diff != "" {
		t.Errorf("status after Restart (-want +got):\n%s", diff)
	}
}

func TestLogs(t *testing.T) {
	t.Parallel()
	const ringSize = 1024
	var mu sync.Mutex
	var sunk []string
	sink := func(service string, line []byte) {
		mu.Lock()
		defer mu.Unlock()
		sunk = append(sunk, service+": "+string(line))
	}
	sp := helperSpec(t, "chatty", "serve", "LINES=200", "LONG_LINE=5000")
	sp.Ready = ReadyNotify
	s, err := New([]Spec{sp}, WithRingSize(ringSize), WithLogSink(sink))
	if err != nil {
		t.Fatal(err)
	}
	runSupervisor(t, s)
	waitReady(t, s)
	// The long line is printed last and split at maxLine.
	long := strings.Repeat("x", 5000)
	tail := long[maxLine:] + "\n"
	var got []byte
	waitFor(t, 5*time.Second, "output in the ring", func() bool {
		got, _ = s.Logs("chatty")
		return bytes.HasSuffix(got, []byte(tail))
	})
	if len(got) > ringSize {
		t.Errorf("ring holds %d bytes, want at most %d", len(got), ringSize)
	}
	// Everything before the long line's tail is its head, and it was cut:
	// so the ring holds exactly the tail.
	if diff := cmp.Diff(tail, string(got)); diff != "" {
		t.Errorf("Logs (-want +got):\n%s", diff)
	}

	var want []string
	for i := range 200 {
		want = append(want, fmt.Sprintf("chatty: chatty line %03d", i))
	}
	want = append(want, "chatty: "+long[:maxLine], "chatty: "+long[maxLine:])
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(want, sunk); diff != "" {
		t.Errorf("sink lines (-want +got):\n%s", diff)
	}

	if _, err := s.Logs("nosuch"); !errors.Is(err, ErrUnknownService) || !strings.Contains(err.Error(), `"nosuch" (known: chatty)`) {
		t.Errorf("Logs(nosuch): got %v, want ErrUnknownService naming it and the known services", err)
	}
}

// TestLogsRingKeepsWholeLines fills a ring with lines only.
func TestLogsRingKeepsWholeLines(t *testing.T) {
	t.Parallel()
	sp := helperSpec(t, "lines", "serve", "LINES=300")
	sp.Ready = ReadyNotify
	s, err := New([]Spec{sp}, WithRingSize(1000))
	if err != nil {
		t.Fatal(err)
	}
	runSupervisor(t, s)
	waitReady(t, s)
	var got []byte
	waitFor(t, 5*time.Second, "the last line", func() bool {
		got, _ = s.Logs("lines")
		return bytes.HasSuffix(got, []byte("lines line 299\n"))
	})
	// 15 bytes a line: the last 66 whole lines fit in 1000 bytes.
	var want strings.Builder
	for i := 300 - 1000/15; i < 300; i++ {
		fmt.Fprintf(&want, "lines line %03d\n", i)
	}
	if diff := cmp.Diff(want.String(), string(got)); diff != "" {
		t.Errorf("Logs (-want +got):\n%s", diff)
	}
}

func TestStopTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		env         []string
		stopTimeout time.Duration
		wantExit    string
		wantMin     time.Duration // shutdown takes at least
		wantMax     time.Duration // and less than
	}{
		{"exits on SIGTERM", nil, 5 * time.Second, "exit status 0", 0, 2 * time.Second},
		{"ignores SIGTERM", []string{"IGNORE_TERM=1"}, 300 * time.Millisecond, "signal: killed", 300 * time.Millisecond, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sp := helperSpec(t, "svc", "serve", tt.env...)
			sp.Ready, sp.StopTimeout = ReadyNotify, tt.stopTimeout
			s, err := New([]Spec{sp})
			if err != nil {
				t.Fatal(err)
			}
			stop := runSupervisor(t, s)
			waitReady(t, s)
			start := time.Now()
			stop()
			took := time.Since(start)
			if took < tt.wantMin || took >= tt.wantMax {
				t.Errorf("shutdown took %v, want %v to %v", took, tt.wantMin, tt.wantMax)
			}
			st := statusOf(t, s, "svc")
			if st.State != contract.StateStopped || st.LastExit != tt.wantExit {
				t.Errorf("got state %q, last exit %q, want stopped, %q", st.State, st.LastExit, tt.wantExit)
			}
		})
	}
}

// TestGrandchildrenKilled checks that a service's children die with it,
// whether it was stopped or exited on its own.
func TestGrandchildrenKilled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  []string
		stop bool // stop the supervisor, rather than let the service exit
	}{
		{"service stopped", nil, true},
		{"service stopped while child ignores SIGTERM", []string{"IGNORE_TERM=1"}, true},
		{"service exited", []string{"EXIT_AFTER_READY=125"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sp := helperSpec(t, "parent", "serve", append(tt.env, "GRANDCHILD=1")...)
			sp.Ready, sp.StopTimeout = ReadyNotify, 200*time.Millisecond
			s, err := New([]Spec{sp})
			if err != nil {
				t.Fatal(err)
			}
			stop := runSupervisor(t, s)
			waitReady(t, s)
			var out []byte
			waitFor(t, 5*time.Second, "grandchild pid", func() bool {
				out, _ = s.Logs("parent")
				return bytes.Contains(out, []byte("\n"))
			})
			pid := grandchildPID(t, out)
			if tt.stop {
				stop()
			}
			waitFor(t, 5*time.Second, fmt.Sprintf("grandchild %d to die", pid), func() bool { return dead(pid) })
		})
	}
}

func TestStopAndRestart(t *testing.T) {
	t.Parallel()
	s := startReady(t, "svc")
	first := statusOf(t, s, "svc").PID

	if err := s.Stop("svc"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "stopped", func() bool { return statusOf(t, s, "svc").State == contract.StateStopped })
	if st := statusOf(t, s, "svc"); st.PID != 0 || st.LastExit != "exit status 0" || !dead(first) {
		t.Errorf("after Stop: got pid %d, last exit %q, process dead %v; want 0, exit status 0, true", st.PID, st.LastExit, dead(first))
	}

	if err := s.Restart("svc"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "running", func() bool { return statusOf(t, s, "svc").State == contract.StateRunning })
	second := statusOf(t, s, "svc").PID
	if err := s.Restart("svc"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "restarted", func() bool {
		st := statusOf(t, s, "svc")
		return st.State == contract.StateRunning && st.PID != second
	})
	if st := statusOf(t, s, "svc"); st.Restarts != 0 {
		t.Errorf("got %d restarts, want 0: operator restarts are not failures", st.Restarts)
	}

	for _, f := range []func(string) error{s.Stop, s.Restart} {
		if err := f("nosuch"); !errors.Is(err, ErrUnknownService) {
			t.Errorf("got %v, want ErrUnknownService", err)
		}
	}
}

// TestStartFailure checks a service whose binary does not exist: it is
// reported failed, retried, and does not block shutdown.
func TestStartFailure(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "no-such-binary")
	s, err := New([]Spec{{Name: "ghost", Path: missing}}, WithBackoff(Backoff{Min: 10 * time.Millisecond, Max: 20 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	runSupervisor(t, s)
	waitFor(t, 5*time.Second, "retries", func() bool { return statusOf(t, s, "ghost").Restarts >= 2 })
	st := statusOf(t, s, "ghost")
	if st.State != contract.StateFailed && st.State != contract.StateBackoff || !strings.Contains(st.LastExit, missing) {
		t.Errorf("got state %q, last exit %q, want failed naming %s", st.State, st.LastExit, missing)
	}
}
