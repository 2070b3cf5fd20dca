package workload

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"

	"github.com/skerry/skerry/services/api/workloadapi"
)

// app supervises one app: its container, its task, its restarts.
type app struct {
	r    *Runner
	spec *workloadapi.AppSpec
	hash string

	cancel   context.CancelFunc
	ctx      context.Context
	done     chan struct{}
	mu       sync.Mutex
	st       Status
	detached bool
	task     containerd.Task // while it runs: for its metrics
}

func newApp(r *Runner, spec *workloadapi.AppSpec, hash string) *app {
	ctx, cancel := context.WithCancel(context.Background())
	return &app{r: r, spec: spec, hash: hash, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		st: Status{Tenant: spec.Tenant, Name: spec.Name, State: StateStarting}}
}

func (a *app) status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.st
}

func (a *app) set(fn func(*Status)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	fn(&a.st)
}

// stop ends the app: its task is stopped and its container deleted.
func (a *app) stop() {
	a.cancel()
	<-a.done
}

// detach ends supervision only: the task keeps running.
func (a *app) detach() {
	a.mu.Lock()
	a.detached = true
	a.mu.Unlock()
	a.cancel()
	<-a.done
}

func (a *app) isDetached() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.detached
}

// run is the app's supervisor loop.
func (a *app) run(parent context.Context) {
	defer close(a.done)
	log := a.r.log().With("tenant", a.spec.Tenant, "app", a.spec.Name)
	ctx := nsCtx(parent, a.spec.Tenant)
	backoff := a.r.o.minBackoff
	if c := a.r.o.streamlog; c != nil {
		s := &shipper{c: c, topic: LogTopic(a.spec.Tenant, a.spec.Name), path: a.logPath(), log: log.Warn}
		shipped := make(chan struct{})
		go func() { s.run(a.ctx); close(shipped) }()
		defer func() { <-shipped }()
	}
	// The host ports stay bound across the task's restarts: a client
	// connecting between two runs sees its connection closed.
	var unpublish func()
	defer func() {
		if unpublish != nil {
			unpublish()
		}
	}()
	for {
		var (
			ran  time.Duration
			exit exitInfo
			err  error
		)
		if unpublish == nil {
			unpublish, err = a.publish()
		}
		if err == nil {
			ran, exit, err = a.once(ctx)
		}
		if a.ctx.Err() != nil {
			return
		}
		switch {
		case err != nil:
			log.Error("app failed", "err", err)
			a.set(func(s *Status) { s.State, s.Error, s.PID = StateFailed, err.Error(), 0 })
		case !a.restarts(exit):
			a.set(func(s *Status) { s.State, s.LastExit, s.PID = StateExited, exit.String(), 0 })
			log.Info("app exited; the restart policy keeps it stopped", "exit", exit)
			<-a.ctx.Done()
			return
		default:
			a.set(func(s *Status) { s.State, s.LastExit, s.PID = StateBackoff, exit.String(), 0 })
			log.Warn("app exited; restarting", "exit", exit, "after", backoff)
		}
		// An app that ran for a while before failing comes back fast.
		if ran > 10*backoff {
			backoff = a.r.o.minBackoff
		}
		select {
		case <-a.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, max(a.spec.Restart.MaxBackoff.Duration, a.r.o.minBackoff))
		a.set(func(s *Status) { s.Restarts++ })
	}
}

// exitInfo is how a task ended.
type exitInfo struct {
	code uint32
	err  error
}

func (e exitInfo) String() string {
	if e.err != nil {
		return e.err.Error()
	}
	return fmt.Sprintf("exit status %d", e.code)
}

func (a *app) restarts(e exitInfo) bool {
	switch a.spec.Restart.Policy {
	case workloadapi.RestartNever:
		return false
	case workloadapi.RestartOnFailure:
		return e.err != nil || e.code != 0
	}
	return true
}

// once runs the app until its task exits or the app is stopped: it
// reattaches to a running task of the same spec, or creates the container
// and task afresh.
func (a *app) once(ctx context.Context) (time.Duration, exitInfo, error) {
	c := a.r.client
	id := a.spec.Name
	ctr, err := c.LoadContainer(ctx, id)
	switch {
	case err == nil:
		labels, lerr := ctr.Labels(ctx)
		if lerr == nil && labels[LabelSpec] == a.hash {
			if task, terr := ctr.Task(ctx, nil); terr == nil {
				if st, serr := task.Status(ctx); serr == nil && st.Status == containerd.Running {
					a.r.log().Info("reattached to the running app", "tenant", a.spec.Tenant, "app", id, "pid", task.Pid())
					return a.supervise(ctx, ctr, task)
				}
			}
		}
		// Another spec, or nothing running: start from a clean container.
		if err := removeContainer(ctx, ctr, a.r.o.stopGrace); err != nil {
			return 0, exitInfo{}, fmt.Errorf("replace container: %w", err)
		}
	case !errdefs.IsNotFound(err):
		return 0, exitInfo{}, fmt.Errorf("load container: %w", err)
	}

	a.set(func(s *Status) { s.State = StatePulling })
	// From the image's arrival until a container holds it, the image
	// garbage collection waits.
	a.r.imageMu.RLock()
	img, err := a.r.ensureImage(ctx, a.spec)
	if err != nil {
		a.r.imageMu.RUnlock()
		return 0, exitInfo{}, err
	}
	opts, err := a.r.specOpts(a.spec, img)
	if err != nil {
		a.r.imageMu.RUnlock()
		return 0, exitInfo{}, err
	}
	// Last, so that it sees the final capabilities: containerd's default
	// seccomp profile (Docker's), whose capability-gated syscalls stay
	// blocked for a process without capabilities (mount, unshare, ...).
	opts = append(opts, seccomp.WithDefaultProfile())
	// No container holds the app's root snapshot now: one left behind
	// (the box lost power between the snapshot and the container, or a
	// create failed after the snapshot) would fail every create with
	// "already exists", restart after restart.
	if err := c.SnapshotService(a.r.o.snapshot).Remove(ctx, id+"-root"); err != nil && !errdefs.IsNotFound(err) {
		a.r.log().Warn("remove the app's leftover root snapshot", "tenant", a.spec.Tenant, "app", id, "err", err)
	}
	ctr, err = c.NewContainer(ctx, id,
		containerd.WithImage(img),
		containerd.WithSnapshotter(a.r.o.snapshot),
		containerd.WithNewSnapshot(id+"-root", img),
		containerd.WithNewSpec(opts...),
		containerd.WithContainerLabels(map[string]string{LabelApp: id, LabelSpec: a.hash}))
	a.r.imageMu.RUnlock()
	if err != nil {
		return 0, exitInfo{}, fmt.Errorf("create container: %w", err)
	}
	if err := a.r.tenantCgroup(a.spec.Tenant); err != nil {
		return 0, exitInfo{}, err
	}
	logPath := a.logPath()
	if err := os.MkdirAll(filepath.Dir(logPath), 0o750); err != nil {
		return 0, exitInfo{}, fmt.Errorf("create log directory: %w", err)
	}
	task, err := ctr.NewTask(ctx, cio.LogFile(logPath))
	if err != nil {
		return 0, exitInfo{}, fmt.Errorf("create task: %w", err)
	}
	return a.supervise(ctx, ctr, task)
}

// supervise starts task if it is not running, waits for it to exit or
// for the app to stop, and cleans up.
func (a *app) supervise(ctx context.Context, ctr containerd.Container, task containerd.Task) (time.Duration, exitInfo, error) {
	exitC, err := task.Wait(ctx)
	if err != nil {
		return 0, exitInfo{}, fmt.Errorf("wait task: %w", err)
	}
	if st, _ := task.Status(ctx); st.Status == containerd.Created {
		if err := task.Start(ctx); err != nil {
			task.Delete(context.WithoutCancel(ctx))
			return 0, exitInfo{}, fmt.Errorf("start task: %w", err)
		}
	}
	started := time.Now()
	a.set(func(s *Status) { s.State, s.PID, s.StartedAt, s.Error = StateRunning, task.Pid(), started, "" })
	a.mu.Lock()
	a.task = task
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.task = nil
		a.mu.Unlock()
	}()
	hctx, stopHealth := context.WithCancel(ctx)
	defer stopHealth()
	go a.watchHealth(hctx, ctr, task)
	select {
	case st := <-exitC:
		code, _, err := st.Result()
		task.Delete(context.WithoutCancel(ctx))
		return time.Since(started), exitInfo{code: code, err: err}, nil
	case <-a.ctx.Done():
		if a.isDetached() {
			return 0, exitInfo{}, nil
		}
		err := stopTask(context.WithoutCancel(ctx), task, exitC, a.r.o.stopGrace)
		if derr := removeContainer(context.WithoutCancel(ctx), ctr, a.r.o.stopGrace); err == nil {
			err = derr
		}
		return 0, exitInfo{}, err
	}
}

// stopTask sends SIGTERM, then SIGKILL after grace, and deletes the task.
func stopTask(ctx context.Context, task containerd.Task, exitC <-chan containerd.ExitStatus, grace time.Duration) error {
	if err := task.Kill(ctx, syscall.SIGTERM); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("stop task: %w", err)
	}
	select {
	case <-exitC:
	case <-time.After(grace):
		task.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll)
		<-exitC
	}
	_, err := task.Delete(ctx)
	if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete task: %w", err)
	}
	return nil
}

// removeContainer stops the container's task if any and deletes the
// container with its root snapshot.
func removeContainer(ctx context.Context, ctr containerd.Container, grace time.Duration) error {
	if task, err := ctr.Task(ctx, nil); err == nil {
		exitC, werr := task.Wait(ctx)
		if werr == nil {
			if st, _ := task.Status(ctx); st.Status == containerd.Running {
				if err := stopTask(ctx, task, exitC, grace); err != nil {
					return err
				}
			} else {
				task.Delete(ctx, containerd.WithProcessKill)
			}
		}
	}
	if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete container: %w", err)
	}
	return nil
}

// logPath is the app's log file: the shim appends the task's stdout and
// stderr to it, across restarts of the task and of the service.
func (a *app) logPath() string {
	return filepath.Join(a.r.o.logRoot, a.spec.Tenant, a.spec.Name+".log")
}
