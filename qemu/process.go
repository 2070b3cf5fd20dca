package qemu

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
)

// process is a child (QEMU or swtpm) in its own process group, collected
// by one goroutine so that any number of callers can wait for it.
type process struct {
	cmd    *exec.Cmd
	done   chan struct{}
	err    error // valid once done is closed
	stderr *tailBuffer
}

func startProcess(cmd *exec.Cmd) (*process, error) {
	cmd.SysProcAttr = sysProcAttr()
	p := &process{cmd: cmd, done: make(chan struct{}), stderr: &tailBuffer{max: 16 << 10}}
	if cmd.Stderr == nil {
		cmd.Stderr = p.stderr
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill ends the process and anything it started, and waits until it is
// collected. The group is signalled only while the leader is not yet
// collected, so its id cannot have been reused by then.
func (p *process) kill() {
	if !p.exited() {
		killGroup(p.cmd.Process.Pid)
		p.cmd.Process.Kill()
	}
	<-p.done
}

// wait returns the exit error, with QEMU's (or swtpm's) last words when it
// failed.
func (p *process) wait(ctx context.Context) error {
	select {
	case <-p.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if p.err == nil {
		return nil
	}
	if s := strings.TrimSpace(p.stderr.String()); s != "" {
		return fmt.Errorf("%s: %w: %s", p.cmd.Args[0], p.err, s)
	}
	return fmt.Errorf("%s: %w", p.cmd.Args[0], p.err)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
