package qemu

import (
	"fmt"

	"github.com/skerry/skerry/board"
)

// Config says what the VM is. The zero value of every field but Board
// means "as the board says" or "none".
type Config struct {
	Board *board.Board

	// Kernel, when set, boots that kernel directly (with Initrd, if set)
	// and Append as its command line, the board's cmdline when empty.
	// Without Kernel the VM boots Disk through the board's UEFI firmware.
	Kernel string
	Initrd string
	Append string

	// Disk is attached as a virtio-blk disk in both boot modes. By default
	// the guest writes to a qcow2 overlay in the VM's temporary directory,
	// so the built image is never modified; see Overlay and DiskWrite.
	Disk string
	// DiskFormat is Disk's format for QEMU and qemu-img (default "raw").
	DiskFormat string
	// Overlay, when set, is the overlay's path instead: created on first
	// use, reused as it is later, so successive VMs see one disk (a reboot
	// test that starts a second VM) while the image stays untouched.
	Overlay string
	// DiskWrite attaches Disk itself, read-write, without an overlay. Use
	// it on a copy.
	DiskWrite bool

	// FirmwareVars, when set with UEFI boot, is the path of the firmware's
	// variable store: copied from the board's template on first use,
	// reused later (boot entries, BootNext). By default each VM gets a
	// fresh copy in its temporary directory.
	FirmwareVars string

	// MemoryMiB overrides the board's memory size; CPUs defaults to 2.
	MemoryMiB int
	CPUs      int

	// TPM, when set, attaches a private swtpm as the board's TPM device.
	TPM *TPM

	// Forwards are guest TCP ports reachable from the host: each gets a
	// fresh port on 127.0.0.1, never another address; see VM.HostAddr.
	Forwards []int

	// NoReboot makes a guest reset end QEMU instead of rebooting, and with
	// direct boot adds panic=-1 to the command line (unless it already sets
	// panic=), so that a kernel panic ends the VM at once.
	NoReboot bool

	// ExtraArgs are appended to QEMU's command line as they are.
	ExtraArgs []string
}

// TPM describes the software TPM of a VM.
type TPM struct {
	// StateDir holds the TPM's state. Give successive VMs the same one to
	// keep one TPM (its keys, NV indices, the EK) across "reboots". Empty:
	// a fresh TPM in the VM's temporary directory, gone with Close.
	StateDir string
	// CADir holds the local CA that signs the EK and platform certificates
	// when a blank TPM is manufactured (swtpm_localca). Share it among VMs
	// so a test tower trusts one CA; see VM.TPMCACerts. Empty: a "ca"
	// directory inside StateDir (swtpm ignores it).
	CADir string
	// Blank skips the manufacturing step (swtpm_setup): the TPM then has
	// no EK certificate, as a TPM fresh from a chip vendor would not have
	// either. By default a TPM without state is manufactured like a real
	// one: EK (RSA and ECC) with certificates, platform certificate, NV
	// locked, the SHA-256 PCR bank active.
	Blank bool
}

func (c *Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Board == nil:
		return bad("no board")
	case c.Kernel == "" && c.Disk == "":
		return bad("neither a kernel nor a disk to boot")
	case c.Initrd != "" && c.Kernel == "":
		return bad("an initrd without a kernel")
	case c.DiskWrite && c.Overlay != "":
		return bad("DiskWrite and Overlay exclude each other")
	case c.TPM != nil && c.Board.QEMU.TPMDevice == "":
		return bad("board %s has no TPM device", c.Board.Name)
	}
	seen := map[int]bool{}
	for _, p := range c.Forwards {
		if p < 1 || p > 65535 || seen[p] {
			return bad("forwarded guest port %d is out of range or given twice", p)
		}
		seen[p] = true
	}
	return nil
}
