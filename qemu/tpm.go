package qemu

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/skerry/skerry/qemu/swtpm"
)

// vmTPM is a running software TPM that QEMU connects to.
type vmTPM struct {
	proc   *process
	socket string // its control socket, for QEMU's -chardev
	caDir  string
}

// startTPM manufactures the TPM when its state is blank and starts swtpm
// on a control socket that the bench creates and hands over as a file
// descriptor, so QEMU can connect as soon as it starts.
func startTPM(ctx context.Context, t *TPM, dir string) (*vmTPM, error) {
	state := t.StateDir
	if state == "" {
		state = filepath.Join(dir, "tpm")
	}
	caDir := t.CADir
	if caDir == "" {
		caDir = filepath.Join(state, "ca")
	}
	if err := os.MkdirAll(state, 0o700); err != nil {
		return nil, fmt.Errorf("create tpm state: %w", err)
	}
	if !t.Blank {
		done, err := swtpm.Manufactured(state)
		if err != nil {
			return nil, err
		}
		if !done {
			if err := swtpm.Manufacture(ctx, state, caDir, dir, "QEMU"); err != nil {
				return nil, err
			}
		}
	}

	socket := filepath.Join(dir, "tpm.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen tpm socket: %w", err)
	}
	// swtpm owns the socket from here on; the bench's copy must not unlink
	// the path when it closes.
	l.SetUnlinkOnClose(false)
	defer l.Close()
	f, err := l.File()
	if err != nil {
		return nil, fmt.Errorf("listen tpm socket: %w", err)
	}
	defer f.Close()

	cmd := swtpm.Command(swtpm.Config{State: state, Dir: dir, Mode: swtpm.QEMUControl})
	cmd.ExtraFiles = []*os.File{f}
	proc, err := startProcess(cmd)
	if err != nil {
		return nil, fmt.Errorf("start swtpm: %w", err)
	}
	return &vmTPM{proc: proc, socket: socket, caDir: caDir}, nil
}

// TPMCACerts returns the PEM files of the CA that certified the TPM's EK:
// the root first, then the issuer that signed the EK certificate. They
// exist only for a manufactured TPM (not Blank); nil without a TPM.
func (vm *VM) TPMCACerts() []string {
	if vm.tpm == nil {
		return nil
	}
	return swtpm.CACerts(vm.tpm.caDir)
}
