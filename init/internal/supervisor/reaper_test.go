package supervisor

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/skerry/skerry/services/contract"
	"golang.org/x/sys/unix"
)

// The tests in this file run a Reaper, whose wait4(-1) would steal the
// exits of other tests' processes: they must not call t.Parallel. Go runs
// parallel tests only after all sequential ones, so those never overlap.

// newReaper makes the test process a child subreaper, as if it were PID 1,
// and runs a Reaper for the test's duration.
func newReaper(t *testing.T) *Reaper {
	t.Helper()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("become subreaper: %v", err)
	}
	r := NewReaper(nil)
	t.Cleanup(func() {
		r.Close()
		unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	})
	return r
}

func helperCmd(t *testing.T, mode string, env ...string) *exec.Cmd {
	t.Helper()
	sp := helperSpec(t, "cmd", mode, env...)
	cmd := exec.Command(sp.Path)
	cmd.Env = sp.Env
	return cmd
}

func TestReaperReapsOrphans(t *testing.T) {
	r := newReaper(t)
	// The helper starts a grandchild that outlives it by 200ms: orphaned,
	// it is re-parented to this process, and only the Reaper can reap it.
	out, err := r.Output(context.Background(), helperCmd(t, "orphan", "SLEEP_MS=200"))
	if err != nil {
		t.Fatalf("run helper: %v (output %q)", err, out)
	}
	pid := grandchildPID(t, out)
	if ppid := parentOf(pid); ppid != os.Getpid() && ppid != 0 {
		t.Fatalf("orphan %d has parent %d, want this process %d", pid, ppid, os.Getpid())
	}
	// Gone from /proc entirely: reaped, not just a zombie.
	waitFor(t, 5*time.Second, "orphan to be reaped", func() bool {
		_, err := os.Stat("/proc/" + itoa(pid))
		return errors.Is(err, os.ErrNotExist)
	})
}

func TestReaperOutput(t *testing.T) {
	r := newReaper(t)
	tests := []struct {
		name     string
		cmd      *exec.Cmd
		timeout  time.Duration
		want     string
		wantCode int   // for an *ExitError
		wantErr  error // for anything else
	}{
		{"success", helperCmd(t, "echo"), 0, "\n", 0, nil},
		{"exit status", helperCmd(t, "echo", "CODE=3"), 0, "\n", 3, nil},
		{"killed at deadline", helperCmd(t, "sleep", "SLEEP_MS=60000"), 100 * time.Millisecond, "", 0, context.DeadlineExceeded},
		{"missing binary", exec.Command("/no/such/binary"), 0, "", 0, os.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			out, err := r.Output(ctx, tt.cmd)
			if diff := cmp.Diff(tt.want, string(out)); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			var ee *ExitError
			switch {
			case tt.wantCode != 0:
				if !errors.As(err, &ee) || ee.ExitCode() != tt.wantCode {
					t.Errorf("got error %v, want exit status %d", err, tt.wantCode)
				}
			case !errors.Is(err, tt.wantErr):
				t.Errorf("got error %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// TestSupervisorWithReaper runs services and a one-off command the way init
// does: every exit collected by the Reaper.
func TestSupervisorWithReaper(t *testing.T) {
	r := newReaper(t)
	serve := helperSpec(t, "serve", "serve", "GRANDCHILD=1")
	serve.Ready = ReadyNotify
	once := helperSpec(t, "once", "exit", "CODE=125")
	s, err := New([]Spec{serve, once}, WithReaper(r))
	if err != nil {
		t.Fatal(err)
	}
	stop := runSupervisor(t, s)
	waitFor(t, 5*time.Second, "once to stop", func() bool { return statusOf(t, s, "once").State == contract.StateStopped })
	waitReady(t, s)

	// RunCommand passes on this process's environment: the test binary
	// sees nestedEnv and refuses to run, with status 3.
	out, err := s.RunCommand(context.Background(), serve.Path, "-test.run=^$")
	var ee *ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(string(out), "not running the tests again") {
		t.Errorf("RunCommand: got %q, %v, want the test binary's refusal and exit status 3", out, err)
	}

	logs, _ := s.Logs("serve")
	grandchild := grandchildPID(t, logs)
	stop()
	for _, st := range s.Status() {
		want := map[string]string{"serve": "exit status 0", "once": "exit status 125"}[st.Name]
		if st.State != contract.StateStopped || st.LastExit != want {
			t.Errorf("%s: got %q, %q, want stopped, %q", st.Name, st.State, st.LastExit, want)
		}
	}
	// Killed with its group, then reaped by the Reaper as an orphan.
	waitFor(t, 5*time.Second, "grandchild reaped", func() bool {
		_, err := os.Stat("/proc/" + itoa(grandchild))
		return errors.Is(err, os.ErrNotExist)
	})
}

func TestReaperClosed(t *testing.T) {
	r := NewReaper(nil)
	r.Close()
	if _, err := r.Output(context.Background(), exec.Command("/bin/true")); !errors.Is(err, ErrReaperClosed) {
		t.Errorf("Output after Close: got %v, want ErrReaperClosed", err)
	}
}

// parentOf reads a process's parent pid, or 0 when it is gone.
func parentOf(pid int) int {
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 2 {
		return 0
	}
	n, _ := atoi(fields[1])
	return n
}
