package supervisor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skerry/skerry/services/contract"
)

// The test binary doubles as the services under test: re-executed with
// helperEnv set, TestMain runs a behaviour instead of the tests. The knobs
// are environment variables, because the supervisor passes a service
// exactly the environment its Spec lists.
const helperEnv = "SUPERVISOR_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode))
	}
	// A re-executed test binary without a helper mode would run the tests
	// again, and they would re-execute it again: refuse instead.
	if os.Getenv(nestedEnv) != "" {
		fmt.Fprintln(os.Stderr, "supervisor.test: re-executed without "+helperEnv+"; not running the tests again")
		os.Exit(3)
	}
	os.Setenv(nestedEnv, "1")
	os.Exit(m.Run())
}

// nestedEnv marks a process as running the tests; children inherit it.
const nestedEnv = "SUPERVISOR_TEST_RUNNING"

func helper(mode string) int {
	name := os.Getenv("NAME")
	event := func(format string, args ...any) {
		if path := os.Getenv("EVENTS"); path != "" {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
			if err != nil {
				panic(err)
			}
			fmt.Fprintf(f, format+"\n", args...)
			f.Close()
		}
	}
	switch mode {
	case "serve":
		// Handle SIGTERM first, so a stop never finds the default action.
		term := make(chan os.Signal, 1)
		if os.Getenv("IGNORE_TERM") != "" {
			signal.Ignore(syscall.SIGTERM)
		} else {
			signal.Notify(term, syscall.SIGTERM)
		}
		event("start %s", name)
		for i := range envInt("LINES") {
			// Alternate streams: both go to one pipe, in order.
			out := []*os.File{os.Stdout, os.Stderr}[i%2]
			fmt.Fprintf(out, "%s line %03d\n", name, i)
		}
		if n := envInt("LONG_LINE"); n > 0 {
			fmt.Println(strings.Repeat("x", n))
		}
		if os.Getenv("GRANDCHILD") != "" {
			fmt.Printf("grandchild %d\n", spawn(os.Getenv("GRANDCHILD") == "setsid"))
		}
		time.Sleep(time.Duration(envInt("READY_DELAY_MS")) * time.Millisecond)
		event("ready %s", name)
		notifyReady()
		if path := os.Getenv("TOUCH"); path != "" {
			os.WriteFile(path, nil, 0o600)
		}
		if code := os.Getenv("EXIT_AFTER_READY"); code != "" {
			n, _ := strconv.Atoi(code)
			return n
		}
		// With SIGTERM ignored nothing ever sends on term; a bare receive
		// would then be a deadlock the runtime may kill with exit status 2.
		// The timer keeps the process waiting to be killed instead.
		select {
		case <-term:
		case <-time.After(time.Hour):
		}
		event("stop %s", name)
		return 0
	case "exit":
		event("start %s %d", name, time.Now().UnixNano())
		fmt.Printf("exiting with %d\n", envInt("CODE"))
		time.Sleep(time.Duration(envInt("RUN_MS")) * time.Millisecond)
		return envInt("CODE")
	case "exitwhen":
		// Runs until the file GO appears, takes it, and exits with CODE.
		event("start %s", name)
		for os.Remove(os.Getenv("GO")) != nil {
			time.Sleep(5 * time.Millisecond)
		}
		return envInt("CODE")
	case "orphan":
		fmt.Printf("grandchild %d\n", spawn(false))
		return 0
	case "echo":
		fmt.Println(strings.Join(os.Args[1:], " "))
		return envInt("CODE")
	case "sleep":
		time.Sleep(time.Duration(envInt("SLEEP_MS")) * time.Millisecond)
		return 0
	}
	fmt.Fprintf(os.Stderr, "unknown helper mode %q\n", mode)
	return 2
}

// notifyReady mirrors services/internal/daemon.Ready, which this package
// cannot import.
func notifyReady() {
	if v := os.Getenv(readyFDEnv); v != "" {
		fd, _ := strconv.Atoi(v)
		f := os.NewFile(uintptr(fd), "ready")
		f.WriteString("READY\n")
		f.Close()
	}
}

// spawn starts a grandchild that sleeps (an hour, or SLEEP_MS) and returns
// its pid without waiting for it.
func spawn(setsid bool) int {
	exe, _ := os.Executable()
	cmd := exec.Command(exe)
	sleep := os.Getenv("SLEEP_MS")
	if sleep == "" {
		sleep = "3600000"
	}
	cmd.Env = []string{helperEnv + "=sleep", "SLEEP_MS=" + sleep}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: setsid}
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	return cmd.Process.Pid
}

func envInt(key string) int {
	n, _ := strconv.Atoi(os.Getenv(key))
	return n
}

// helperSpec is a Spec running the test binary in the given mode.
func helperSpec(t *testing.T, name, mode string, env ...string) Spec {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Spec{
		Name:        name,
		Path:        exe,
		Env:         append([]string{helperEnv + "=" + mode, "NAME=" + name}, env...),
		Dir:         t.TempDir(),
		StopTimeout: 5 * time.Second,
	}
}

// runSupervisor runs s until the test ends, or until the returned stop is
// called, which waits for Run to return.
func runSupervisor(t *testing.T, s *Supervisor) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("Run did not return 15s after its context ended")
		}
	}
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitReady(t *testing.T, s *Supervisor) {
	t.Helper()
	select {
	case <-s.AllReady():
	case <-time.After(10 * time.Second):
		t.Fatalf("services not ready after 10s: %+v", s.Status())
	}
}

func statusOf(t *testing.T, s *Supervisor, name string) contract.ServiceStatus {
	t.Helper()
	for _, st := range s.Status() {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no status for %q", name)
	return contract.ServiceStatus{}
}

func readEvents(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Fields(strings.ReplaceAll(string(b), " ", "_"))
}

// dead reports whether pid is gone or a zombie: killed, if not yet reaped.
func dead(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z'
}

// grandchildPID finds the "grandchild <pid>" line a helper printed.
func grandchildPID(t *testing.T, out []byte) int {
	t.Helper()
	for line := range strings.Lines(string(out)) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "grandchild "); ok {
			pid, err := strconv.Atoi(rest)
			if err != nil {
				t.Fatalf("parse %q: %v", line, err)
			}
			return pid
		}
	}
	t.Fatalf("no grandchild pid in output %q", out)
	return 0
}

func itoa(n int) string          { return strconv.Itoa(n) }
func atoi(s string) (int, error) { return strconv.Atoi(s) }

// startReady runs a supervisor of one ready-notifying helper service
// that serves, and waits until it is ready.
func startReady(t *testing.T, name string, env ...string) *Supervisor {
	t.Helper()
	sp := helperSpec(t, name, "serve", env...)
	sp.Ready = ReadyNotify
	s, err := New([]Spec{sp})
	if err != nil {
		t.Fatal(err)
	}
	runSupervisor(t, s)
	waitReady(t, s)
	return s
}
