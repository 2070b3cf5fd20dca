package swtpm

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skerry/skerry/qemu/testenv"
)

// Process is a running Socket-mode swtpm.
type Process struct {
	cfg  Config
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	out  bytes.Buffer
}

// Start starts swtpm on c.State, serving its command socket in c.Dir, and
// waits until the socket is there.
func Start(c Config) (*Process, error) {
	c.Mode = Socket
	for _, d := range []string{c.State, c.Dir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("start swtpm: %w", err)
		}
	}
	if strings.Contains(c.State+c.Dir, ",") {
		return nil, fmt.Errorf("start swtpm: paths %q and %q: swtpm cannot take a path with a comma", c.State, c.Dir)
	}
	p := &Process{cfg: c, cmd: Command(c), done: make(chan struct{})}
	p.cmd.Stderr = &syncWriter{p: p}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start swtpm: %w", err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	// swtpm creates its socket a moment after it starts, and listens on
	// it a moment after that: wait until a connection is taken (swtpm
	// serves one at a time, so the probe is closed at once).
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("unix", c.SocketPath()); err == nil {
			c.Close()
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("start swtpm: exited: %v: %s", p.cmd.ProcessState, p.output())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("start swtpm: no socket after 10s: %s", p.output())
		}
	}
}

// Path is the TPM path services take: "unix:" and the command socket.
func (p *Process) Path() string { return "unix:" + p.cfg.SocketPath() }

// State is the TPM's state directory.
func (p *Process) State() string { return p.cfg.State }

// Stop ends swtpm at once, as a power cut would; its state stays, and a
// new Start on it is the box booting again.
func (p *Process) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Kill()
	<-p.done
}

func (p *Process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.TrimSpace(p.out.String())
}

type syncWriter struct{ p *Process }

func (w *syncWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.out.Write(b)
}

// Options of New.
type Options struct {
	// Manufactured gives the TPM an EK certificate from a local CA in
	// CADir (default: a directory of the test's), as a vendor's chip has.
	// Without it the TPM has no EK certificate: a tower takes it for a
	// software TPM.
	Manufactured bool
	CADir        string
	// State reuses a TPM state directory (the same box booting again);
	// default: a fresh one.
	State string
}

// New starts a swtpm for the test and stops it when the test ends. It
// skips the test unless SKERRY_INTEGRATION=1, and fails when that is set
// but swtpm is missing.
func New(t testing.TB, o Options) *Process {
	t.Helper()
	testenv.Integration(t, testenv.Tools("swtpm", "swtpm_setup", "swtpm_localca"))
	state := o.State
	if state == "" {
		state = filepath.Join(t.TempDir(), "state")
	}
	if o.Manufactured {
		done, err := Manufactured(state)
		if err != nil {
			t.Fatal(err)
		}
		if !done {
			ca := o.CADir
			if ca == "" {
				ca = filepath.Join(t.TempDir(), "ca")
			}
			if err := Manufacture(t.Context(), state, ca, t.TempDir(), "test"); err != nil {
				t.Fatal(err)
			}
		}
	}
	p, err := Start(Config{State: state, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}
