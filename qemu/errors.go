package qemu

import "errors"

// Sentinel errors; callers check them with errors.Is.
var (
	// ErrConfig is returned by Start when the Config cannot describe a VM:
	// no board, neither a kernel nor a disk to boot, a forwarded port out
	// of range or given twice.
	ErrConfig = errors.New("invalid vm config")

	// ErrExited is returned by Expect when QEMU exited (the guest powered
	// off, panicked with NoReboot, or QEMU failed) before the pattern
	// appeared; no more console output can come.
	ErrExited = errors.New("qemu exited")

	// ErrClosed is returned by the VM's methods after Close.
	ErrClosed = errors.New("vm closed")
)
