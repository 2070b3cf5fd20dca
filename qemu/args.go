package qemu

import (
	"fmt"
	"strconv"
	"strings"
)

// plan holds what Start prepared for QEMU: the concrete files and sockets.
type plan struct {
	firmwareCode, firmwareVars string // UEFI boot only
	disk, diskFormat           string // empty: no disk
	qmpSocket                  string
	tpmSocket                  string // empty: no TPM
}

// defaultCPUs: the bench machines have two cores, and a guest with two
// vCPUs boots its services in parallel as a real box would.
const defaultCPUs = 2

// args builds QEMU's command line. It is a pure function of the config and
// the plan, so tests can read it.
func args(c *Config, p plan) []string {
	b := c.Board
	q := b.QEMU
	mem := q.MemoryMiB
	if c.MemoryMiB > 0 {
		mem = c.MemoryMiB
	}
	cpus := defaultCPUs
	if c.CPUs > 0 {
		cpus = c.CPUs
	}
	a := []string{
		"-name", "skerry-" + b.Name,
		"-machine", q.Machine,
		// KVM is not usable on the bench machines. Multi-threaded TCG runs
		// each vCPU on its own host thread.
		"-accel", "tcg,thread=multi",
		"-cpu", q.CPU,
		"-smp", strconv.Itoa(cpus),
		"-m", strconv.Itoa(mem),
		// Only the devices asked for below: no VGA, no default NIC, no
		// monitor on stdio, no user config files changing the machine.
		"-nodefaults", "-no-user-config", "-display", "none",
		// The serial console on QEMU's stdin and stdout. signal=off: a ^C
		// arriving on stdin goes to the guest, it does not kill QEMU.
		"-chardev", "stdio,id=con0,signal=off",
		"-serial", "chardev:con0",
		// QMP as a client of the bench's socket: the socket exists before
		// QEMU starts, so there is no wait for QEMU to create one.
		"-chardev", "socket,id=qmp0,path=" + esc(p.qmpSocket),
		"-mon", "chardev=qmp0,mode=control",
		"-netdev", netdev(c.Forwards),
		"-device", q.NetDevice + ",netdev=n0",
	}
	if q.RNGDevice != "" {
		// Entropy from the host, so the guest's crypto does not stall early
		// in boot waiting for the pool to fill.
		a = append(a, "-device", q.RNGDevice)
	}
	if c.Kernel != "" {
		a = append(a, "-kernel", c.Kernel)
		if c.Initrd != "" {
			a = append(a, "-initrd", c.Initrd)
		}
		a = append(a, "-append", cmdline(c))
	} else {
		a = append(a,
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+esc(p.firmwareCode),
			"-drive", "if=pflash,format=raw,unit=1,file="+esc(p.firmwareVars))
	}
	if p.disk != "" {
		// Default cache mode (writeback) honours the guest's flushes, so a
		// power-loss test that kills QEMU keeps what the guest synced.
		a = append(a,
			"-drive", "if=none,id=disk0,format="+p.diskFormat+",file="+esc(p.disk),
			"-device", "virtio-blk-pci,drive=disk0,bootindex=1")
	}
	if p.tpmSocket != "" {
		a = append(a,
			"-chardev", "socket,id=tpm0chr,path="+esc(p.tpmSocket),
			"-tpmdev", "emulator,id=tpm0,chardev=tpm0chr",
			"-device", q.TPMDevice+",tpmdev=tpm0")
	}
	if c.NoReboot {
		a = append(a, "-no-reboot")
	}
	return append(a, c.ExtraArgs...)
}

// netdev is QEMU's user-mode network. Each forward binds 127.0.0.1 with
// host port 0: the host's kernel picks a free port as QEMU binds it, which
// cannot race with other tests the way "find a free port, then pass it"
// does; Start reads the ports back over QMP. Nothing is restricted: the
// guest reaches the host's loopback as 10.0.2.2.
func netdev(forwards []int) string {
	s := "user,id=n0"
	for _, g := range forwards {
		s += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:0-:%d", g)
	}
	return s
}

// cmdline is the kernel command line for direct boot.
func cmdline(c *Config) string {
	s := c.Append
	if s == "" {
		s = c.Board.Kernel.Cmdline
	}
	if c.NoReboot && !hasParam(s, "panic") {
		// panic=-1 reboots at once, which -no-reboot turns into an exit.
		s = strings.TrimSpace(s + " panic=-1")
	}
	return s
}

func hasParam(cmdline, name string) bool {
	for _, f := range strings.Fields(cmdline) {
		if k, _, _ := strings.Cut(f, "="); k == name {
			return true
		}
	}
	return false
}

// esc quotes a path inside a QEMU option string, where a comma separates
// options and ",," stands for a comma.
func esc(path string) string { return strings.ReplaceAll(path, ",", ",,") }
