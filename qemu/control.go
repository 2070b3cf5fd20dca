package qemu

import (
	"context"
	"fmt"
	"os"
)

// QMP runs a QMP command (see QEMU's QMP reference), with args (nil: none),
// and decodes its return value into result (nil: ignored).
func (vm *VM) QMP(ctx context.Context, cmd string, args, result any) error {
	if vm.closed.Load() {
		return ErrClosed
	}
	return vm.qmp.execute(ctx, cmd, args, result)
}

// Powerdown presses the power button (ACPI on x86_64, a GPIO key on arm64).
// It returns once QEMU has the request; the guest decides what to do, and
// Wait tells when it is off.
func (vm *VM) Powerdown(ctx context.Context) error {
	return vm.QMP(ctx, "system_powerdown", nil, nil)
}

// Quit ends QEMU at once, as pulling the plug would, and waits for it to
// exit.
func (vm *VM) Quit(ctx context.Context) error {
	// QEMU may close the connection before its reply arrives; the exit
	// status is what counts.
	qerr := vm.QMP(ctx, "quit", nil, nil)
	if err := vm.Wait(ctx); err != nil {
		return fmt.Errorf("quit qemu: %w (qmp: %v)", err, qerr)
	}
	return nil
}

// Wait waits until QEMU exits and returns its exit error: nil when the
// guest powered off, or reset with NoReboot, or after Quit.
func (vm *VM) Wait(ctx context.Context) error { return vm.proc.wait(ctx) }

// Close kills QEMU and swtpm and removes the VM's temporary directory
// (unless WithKeepDir). It may be called more than once, and after QEMU
// exited; later calls return the first call's result.
func (vm *VM) Close() error {
	vm.closeOnce.Do(func() {
		vm.closed.Store(true)
		if vm.proc != nil {
			vm.proc.kill()
		}
		if vm.tpm != nil {
			vm.tpm.proc.kill()
		}
		if vm.qmp != nil {
			vm.qmp.close()
		}
		if vm.stdin != nil {
			vm.stdin.Close()
		}
		if vm.conDone != nil {
			// The console sees EOF once QEMU is gone; after this no mirror
			// write can reach a test that has finished.
			<-vm.conDone
		}
		if vm.opts.keepDir {
			vm.opts.log.Info("kept vm directory", "dir", vm.dir)
			return
		}
		if err := os.RemoveAll(vm.dir); err != nil {
			vm.closeErr = fmt.Errorf("remove vm directory: %w", err)
		}
	})
	return vm.closeErr
}
