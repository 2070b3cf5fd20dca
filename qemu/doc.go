// Package qemu is Skerry's QEMU bench: it boots a board's kernel or disk
// image under QEMU, optionally with a private software TPM (swtpm), gives
// the guest nothing but QEMU's user-mode network with chosen guest ports
// forwarded from loopback, captures the serial console for expect-style
// waits, and controls the machine over QMP.
//
// Every VM owns a temporary directory and at most two processes, QEMU and
// swtpm, each in its own process group and killed if the Go process dies;
// Close removes all of it. Tests start a VM and register Close with
// t.Cleanup.
//
// See README.md for the design notes.
package qemu
