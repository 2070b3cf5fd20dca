package supervisor

import (
	"fmt"
	"os/exec"
	"syscall"
)

// proc is a started process whose exit someone else collects: either a
// goroutine in os.Process.Wait or the Reaper.
type proc struct {
	pid    int
	exited chan struct{}      // closed once the process was reaped
	status syscall.WaitStatus // valid after exited is closed
}

func newProc(pid int) *proc { return &proc{pid: pid, exited: make(chan struct{})} }

func (p *proc) done(ws syscall.WaitStatus) {
	p.status = ws
	close(p.exited)
}

// starter starts a command and arranges for its exit to be collected. It is
// satisfied by the Reaper (init, where wait4(-1) reaps everything) and by
// waitStarter (tests and anything that is not PID 1).
type starter interface {
	start(cmd *exec.Cmd) (*proc, error)
}

// waitStarter collects each exit with os.Process.Wait. It must not be used
// while a Reaper runs in the same process: the Reaper would steal the exits.
type waitStarter struct{}

func (waitStarter) start(cmd *exec.Cmd) (*proc, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := newProc(cmd.Process.Pid)
	go func() {
		ps, err := cmd.Process.Wait()
		if err != nil {
			// Only possible if someone else reaped it; report it as killed
			// rather than hang the supervisor.
			p.done(syscall.WaitStatus(syscall.SIGKILL))
			return
		}
		p.done(ps.Sys().(syscall.WaitStatus))
	}()
	return p, nil
}

// ExitError reports a command that did not exit with status 0.
type ExitError struct {
	Status syscall.WaitStatus
}

func (e *ExitError) Error() string { return exitString(e.Status) }

// ExitCode is the exit status, or -1 when a signal ended the process.
func (e *ExitError) ExitCode() int { return e.Status.ExitStatus() }

// exitString words a wait status like os.ProcessState does, so that
// LastExit reads the same whichever way the exit was collected.
func exitString(ws syscall.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exit status %d", ws.ExitStatus())
	case ws.Signaled():
		s := "signal: " + ws.Signal().String()
		if ws.CoreDump() {
			s += " (core dumped)"
		}
		return s
	}
	return fmt.Sprintf("wait status %#x", int(ws))
}
