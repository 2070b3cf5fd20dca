package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A Reaper reaps every child of the process, including orphans that the
// kernel re-parents to it when it is PID 1 (or a child subreaper). Exits of
// processes started through it are handed to whoever started them; the rest
// are collected and logged.
//
// While a Reaper runs, nothing else in the process may wait for children:
// os/exec's Wait, Run, Output and CombinedOutput would race with wait4(-1)
// and fail with ECHILD. Run commands with Output (or Supervisor.RunCommand)
// instead.
type Reaper struct {
	log *slog.Logger

	// mu is held while a process starts and is registered, and while an exit
	// is looked up. A child that exits before registration completes is
	// therefore reaped, but not dispatched, until it is registered.
	mu     sync.Mutex
	procs  map[int]*proc
	closed bool

	sigs    chan os.Signal
	quit    chan struct{}
	stopped chan struct{}
}

// NewReaper starts reaping at once; call Close when done (PID 1 never is).
// A nil logger discards.
func NewReaper(log *slog.Logger) *Reaper {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Reaper{
		log:     log,
		procs:   make(map[int]*proc),
		sigs:    make(chan os.Signal, 1),
		quit:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	signal.Notify(r.sigs, syscall.SIGCHLD)
	go r.loop()
	return r
}

// Close stops reaping. Processes still running are not waited for.
func (r *Reaper) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	signal.Stop(r.sigs)
	close(r.quit)
	<-r.stopped
	return nil
}

func (r *Reaper) loop() {
	defer close(r.stopped)
	for {
		// Children may have exited before signal.Notify, and SIGCHLDs
		// coalesce, so every wake-up reaps until nothing is left.
		r.reapAll()
		select {
		case <-r.sigs:
		case <-r.quit:
			return
		}
	}
}

// reapAll collects every exited child without blocking (WNOHANG), so the
// loop stays responsive to Close while children are still running.
func (r *Reaper) reapAll() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return // ECHILD: no children; 0: none exited yet
		}
		r.mu.Lock()
		p := r.procs[pid]
		delete(r.procs, pid)
		r.mu.Unlock()
		status := syscall.WaitStatus(ws)
		// Not ours: an orphan re-parented to init, typically a daemon's
		// double fork or a process a killed service left behind.
		if p == nil {
			r.log.Debug("reaped orphan", "pid", pid, "status", exitString(status))
			continue
		}
		p.done(status)
	}
}

// start implements starter. Holding mu across Start is what makes an
// immediate exit safe: reapAll may collect it at once, but cannot look it
// up until it is registered here.
func (r *Reaper) start(cmd *exec.Cmd) (*proc, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrReaperClosed
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := newProc(cmd.Process.Pid)
	r.procs[p.pid] = p
	return p, nil
}

// drainTimeout bounds how long output is read after a process exited: a
// grandchild that inherited the pipe must not block the caller forever.
const drainTimeout = time.Second

// Output runs cmd to completion and returns its combined stdout and stderr.
// cmd.Stdout and cmd.Stderr must be nil. When ctx ends first the process is
// killed and ctx's error returned. A non-zero exit is an *ExitError.
//
// Make cmd with exec.Command, not exec.CommandContext: the latter's context
// watcher only stops in Cmd.Wait, which a Reaper's commands never call.
func (r *Reaper) Output(ctx context.Context, cmd *exec.Cmd) ([]byte, error) {
	if cmd.Stdout != nil || cmd.Stderr != nil {
		return nil, fmt.Errorf("run %s: Stdout or Stderr already set", cmd.Path)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", cmd.Path, err)
	}
	defer pr.Close()
	cmd.Stdout, cmd.Stderr = pw, pw
	p, err := r.start(cmd)
	pw.Close()
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", cmd.Path, err)
	}
	defer cmd.Process.Release()

	// Read concurrently: a command that prints more than a pipe holds
	// would otherwise block and never exit.
	var out bytes.Buffer
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		out.ReadFrom(pr) // ends at EOF, or when waitOrClose closes pr
	}()
	var killed error
	select {
	case <-p.exited:
	case <-ctx.Done():
		cmd.Process.Kill()
		killed = ctx.Err()
		<-p.exited
	}
	waitOrClose(copied, pr)
	if killed != nil {
		return out.Bytes(), fmt.Errorf("run %s: %w", cmd.Path, killed)
	}
	if p.status != 0 {
		return out.Bytes(), fmt.Errorf("run %s: %w", cmd.Path, &ExitError{Status: p.status})
	}
	return out.Bytes(), nil
}
