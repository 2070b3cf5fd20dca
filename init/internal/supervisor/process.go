package supervisor

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/skerry/skerry/services/contract"
)

// readyFDEnv is where a service finds its ready fd (the contract lives in
// initapi, shared with services/internal/daemon).
const readyFDEnv = contract.ReadyFDEnv

// run is one start of a service's process.
type run struct {
	proc *proc
	// process is only kept to Release its pidfd; signals go to the process
	// group by pid, which outlives the leader while members remain.
	process   *os.Process
	startedAt time.Time
	ready     readiness
	output    *os.File      // read end of stdout+stderr
	drained   chan struct{} // closed when output reached EOF
}

// startProcess starts the service's process in its own process group (and
// cgroup), with its output going to the ring and a ready pipe when asked.
func (s *Supervisor) startProcess(svc *service) (*run, error) {
	sp := svc.spec
	if sp.Dir != "" {
		if err := os.MkdirAll(sp.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("create home: %w", err)
		}
	}
	cmd := &exec.Cmd{
		Path: sp.Path,
		Args: append([]string{sp.Path}, sp.Args...),
		// Never nil: a nil Env would hand init's environment to the service.
		Env:         append(make([]string, 0, len(sp.Env)+1), sp.Env...),
		Dir:         sp.Dir,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("create output pipe: %w", err)
	}
	// Both streams share one pipe so their lines stay in order.
	cmd.Stdout, cmd.Stderr = outW, outW
	defer outW.Close()

	var readyR *os.File
	switch sp.Ready {
	case ReadyNotify:
		var readyW *os.File
		if readyR, readyW, err = os.Pipe(); err != nil {
			outR.Close()
			return nil, fmt.Errorf("create ready pipe: %w", err)
		}
		defer readyW.Close()
		cmd.ExtraFiles = []*os.File{readyW} // fd 3
		cmd.Env = append(cmd.Env, readyFDEnv+"=3")
	case ReadyPath:
		removeStaleSocket(sp.ReadyPath)
	}
	if s.cg != nil {
		fd, err := s.cg.open(sp.Name)
		if err != nil {
			outR.Close()
			closeFile(readyR)
			return nil, err
		}
		defer syscall.Close(fd)
		// Started inside its cgroup (clone3 CLONE_INTO_CGROUP): no window
		// in which the service runs without its limits.
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
	}

	p, err := s.starter.start(cmd)
	if err != nil {
		outR.Close()
		closeFile(readyR)
		return nil, fmt.Errorf("start %s: %w", sp.Path, err)
	}
	r := &run{
		proc:      p,
		process:   cmd.Process,
		startedAt: s.cfg.clock.Now(),
		output:    outR,
		drained:   s.capture(svc, outR),
	}
	switch sp.Ready {
	case ReadyNotify:
		r.ready = watchNotify(readyR)
	case ReadyPath:
		r.ready = watchPath(sp.ReadyPath)
	default:
		r.ready = readyNow()
	}
	svc.update(func(st *contract.ServiceStatus) {
		st.State, st.PID, st.StartedAt = contract.StateStarting, p.pid, r.startedAt
	})
	return r, nil
}

func closeFile(f *os.File) {
	if f != nil {
		f.Close()
	}
}

// removeStaleSocket removes a socket left by an earlier run, so that the
// path appearing again means this run is ready. Other files are left alone:
// they may be data, and then they count as ready at once.
func removeStaleSocket(path string) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode().Type() == os.ModeSocket {
		os.Remove(path)
	}
}

// terminate asks the service's process group to stop, and kills it when it
// has not exited within the spec's StopTimeout.
func (s *Supervisor) terminate(svc *service, r *run) {
	timeout := svc.spec.stopTimeout()
	s.cfg.log.Info("stopping service", "service", svc.spec.Name, "pid", r.proc.pid, "timeout", timeout)
	// The whole group, so that helpers the service runs (a shell's
	// children, containerd's shims) get the chance to stop cleanly too.
	syscall.Kill(-r.proc.pid, syscall.SIGTERM)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-r.proc.exited:
	case <-t.C:
		s.cfg.log.Warn("service did not stop in time; killing it", "service", svc.spec.Name, "pid", r.proc.pid, "timeout", timeout)
		s.killAll(svc, r)
		<-r.proc.exited
	}
}

// killAll kills the process group and, with cgroups, whatever escaped it.
func (s *Supervisor) killAll(svc *service, r *run) {
	syscall.Kill(-r.proc.pid, syscall.SIGKILL) // ESRCH: nothing left
	if s.cg != nil {
		s.cg.kill(svc.spec.Name)
	}
}

// cleanup runs after the main process exited. What it left behind in its
// group is killed, as systemd does by default: a restart must not find the
// old run's children holding its ports or files. Then output and the ready
// pipe are read to their end (bounded), so the ring holds the last words
// and a "READY" written just before exiting still counts.
func (s *Supervisor) cleanup(svc *service, r *run) {
	s.killAll(svc, r)
	r.process.Release()
	waitOrClose(r.drained, r.output)
	if r.ready.finish() {
		s.markReady(svc)
	}
}

// waitOrClose waits up to drainTimeout for done, then closes f to end the
// goroutine reading it, and waits for that.
func waitOrClose(done <-chan struct{}, f *os.File) {
	t := time.NewTimer(drainTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		f.Close()
		<-done
	}
}
