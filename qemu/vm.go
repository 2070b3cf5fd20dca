package qemu

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// VM is a running QEMU virtual machine. Its methods are safe for
// concurrent use.
type VM struct {
	cfg     Config
	opts    options
	dir     string // the VM's temporary directory
	proc    *process
	tpm     *vmTPM
	qmp     *qmp
	con     *console
	conDone chan struct{} // closed when the console reader has finished
	stdin   *os.File
	started time.Time
	ports   map[int]int // guest port -> host port on 127.0.0.1

	closeOnce sync.Once
	closed    atomic.Bool
	closeErr  error
}

// Start prepares the VM's files (firmware variables, disk overlay, TPM),
// starts swtpm and QEMU and connects to QMP. ctx bounds the start only;
// the VM runs until it exits or Close. On error nothing is left behind.
func Start(ctx context.Context, cfg Config, opts ...Option) (*VM, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	// os.TempDir rather than a test's t.TempDir: unix socket paths must
	// stay under 108 bytes, and test names make long paths.
	dir, err := os.MkdirTemp("", "skerry-qemu-")
	if err != nil {
		return nil, fmt.Errorf("start vm: %w", err)
	}
	vm := &VM{cfg: cfg, opts: o, dir: dir, con: newConsole(o.mirror)}
	if err := vm.start(ctx); err != nil {
		vm.Close()
		return nil, fmt.Errorf("start vm %s: %w", cfg.Board.Name, err)
	}
	return vm, nil
}

func (vm *VM) start(ctx context.Context) error {
	c := &vm.cfg
	p := plan{qmpSocket: filepath.Join(vm.dir, "qmp.sock")}
	var err error
	if c.Kernel == "" {
		if p.firmwareCode, p.firmwareVars, err = firmware(c, vm.dir); err != nil {
			return err
		}
	}
	if c.Disk != "" {
		if p.disk, p.diskFormat, err = disk(ctx, c, vm.dir); err != nil {
			return err
		}
	}
	if c.TPM != nil {
		if vm.tpm, err = startTPM(ctx, c.TPM, vm.dir); err != nil {
			return err
		}
		p.tpmSocket = vm.tpm.socket
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: p.qmpSocket, Net: "unix"})
	if err != nil {
		return fmt.Errorf("listen qmp socket: %w", err)
	}
	defer l.Close()
	if err := vm.startQEMU(args(c, p)); err != nil {
		return err
	}
	conn, err := vm.accept(ctx, l)
	if err != nil {
		return err
	}
	if vm.qmp, err = newQMP(ctx, conn, vm.opts.log); err != nil {
		conn.Close()
		return err
	}
	if len(c.Forwards) > 0 {
		if vm.ports, err = vm.forwards(ctx); err != nil {
			return err
		}
		vm.opts.log.Info("forwarded guest ports", "board", c.Board.Name, "ports", vm.ports)
	}
	return nil
}

// startQEMU starts QEMU with the serial console on pipes: stdout feeds the
// console, stdin is what Send writes to.
func (vm *VM) startQEMU(argv []string) error {
	inR, inW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("start qemu: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return fmt.Errorf("start qemu: %w", err)
	}
	bin := vm.cfg.Board.QEMU.Binary
	cmd := exec.Command(bin, argv...)
	cmd.Stdin, cmd.Stdout = inR, outW
	vm.opts.log.Info("start qemu", "board", vm.cfg.Board.Name, "dir", vm.dir,
		"command", bin+" "+strings.Join(argv, " "))
	vm.started = time.Now()
	vm.proc, err = startProcess(cmd)
	// QEMU holds its own copies; the bench's ends must go, or the console
	// would never see EOF when QEMU exits.
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return fmt.Errorf("start qemu: %w", err)
	}
	vm.stdin = inW
	vm.conDone = make(chan struct{})
	go func() {
		defer close(vm.conDone)
		defer outR.Close()
		vm.con.feed(outR)
	}()
	return nil
}

// accept waits for QEMU to connect to the QMP socket, which it does while
// it starts; an exit before that is a bad command line or a missing file,
// and QEMU's stderr says which.
func (vm *VM) accept(ctx context.Context, l *net.UnixListener) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		conn, err := l.Accept()
		ch <- result{conn, err}
	}()
	var err error
	select {
	case r := <-ch:
		if r.err == nil {
			return r.conn, nil
		}
		err = fmt.Errorf("accept qmp: %w", r.err)
	case <-vm.proc.done:
		err = vm.proc.wait(ctx)
		if err == nil {
			err = errors.New("qemu exited while starting")
		}
	case <-ctx.Done():
		err = fmt.Errorf("accept qmp: %w", ctx.Err())
	}
	l.Close()
	if r := <-ch; r.conn != nil {
		r.conn.Close()
	}
	return nil, err
}

// Started returns when QEMU was started, the zero point of Match.Since.
func (vm *VM) Started() time.Time { return vm.started }

// Dir returns the VM's temporary directory, where its overlay, firmware
// variables, fresh TPM state and swtpm.log live until Close.
func (vm *VM) Dir() string { return vm.dir }

// Send types s on the serial console.
func (vm *VM) Send(s string) error {
	if vm.closed.Load() {
		return ErrClosed
	}
	if _, err := vm.stdin.WriteString(s); err != nil {
		return fmt.Errorf("send console: %w", err)
	}
	return nil
}

func (vm *VM) isClosed() bool { return vm.closed.Load() }
