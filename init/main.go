// Command init is Skerry's PID 1. The kernel runs it from the initramfs;
// it moves the root into a tmpfs, mounts what the system needs, loads the
// board's kernel modules, mounts /perm, brings up the network, supervises
// the services, and powers off or reboots in order.
package main

import (
	"bytes"
	"fmt"
	"io"
	stdlog "log"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/skerry/skerry/init/internal/console"
)

var version = "dev"

// Stage 2 is the same binary exec'd again after switch_root; these
// variables carry what stage 1 measured across the exec.
const (
	stageEnv     = "SKERRY_INIT_STAGE"
	initStartEnv = "SKERRY_INIT_START" // uptime in ns when /init started
	movedEnv     = "SKERRY_INIT_MOVED" // stage 1's report of the copy
)

func main() {
	log := console.New(os.Stdout)
	// The kernel starts init with almost no environment; mke2fs and the
	// services are found through this PATH.
	os.Setenv("PATH", "/usr/bin:/usr/sbin:/sbin:/bin")
	// Libraries (u-root's DHCP client) log through the standard logger:
	// send that to the console in init's format.
	// Only each message's first line: the DHCP client dumps whole leases.
	stdlog.SetFlags(0)
	stdlog.SetOutput(firstLine{log})
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "init: this is Skerry's PID 1; it mounts filesystems and reboots the machine, so it refuses to run as any other process")
		os.Exit(1)
	}
	var err error
	if os.Getenv(stageEnv) == "" {
		err = stage1(log)
	} else {
		err = stage2(log)
	}
	// PID 1 must not exit: the kernel would panic and the message scroll
	// away. Say what went wrong and keep it on the screen.
	log.Printf("FATAL: %v (init %s)", err, version)
	log.Printf("the system cannot continue; it will power off in 5 minutes")
	unix.Sync()
	time.Sleep(5 * time.Minute)
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
}

// firstLine passes on the first line of each write.
type firstLine struct{ w io.Writer }

func (f firstLine) Write(p []byte) (int, error) {
	line, _, _ := bytes.Cut(p, []byte("\n"))
	f.w.Write(line)
	return len(p), nil
}
