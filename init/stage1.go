package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/skerry/skerry/init/internal/console"
	"github.com/skerry/skerry/init/internal/rootfs"
	"github.com/skerry/skerry/services/contract"
)

// stage1 runs in the initramfs: it checks that the archive unpacked
// completely, moves it into a tmpfs and execs stage 2 there.
func stage1(log *console.Logger) error {
	if err := (rootfs.Mount{Source: "proc", Target: "/proc", FSType: "proc"}).Do(); err != nil {
		return err
	}
	start := console.Uptime()
	if _, err := os.Stat(contract.CompleteMarker); err != nil {
		tooLittleRAM(log)
	}
	if err := hugePagesOnRequest(); err != nil {
		log.Printf("transparent huge pages left as the kernel set them: %v", err)
	}
	if err := unix.Unmount("/proc", 0); err != nil {
		return fmt.Errorf("umount /proc: %w", err)
	}
	t0 := time.Now()
	copied, err := rootfs.SwitchToTmpfs(runtime.NumCPU())
	if err != nil {
		return err
	}
	// /proc is gone, so stage 2 prints this with a real timestamp.
	moved := fmt.Sprintf("moved %.1f MB of initramfs into a tmpfs root in %.2fs", float64(copied)/1e6, time.Since(t0).Seconds())
	env := append(os.Environ(), stageEnv+"=2", initStartEnv+"="+strconv.FormatInt(int64(start), 10), movedEnv+"="+moved)
	return fmt.Errorf("exec /init (stage 2): %w", unix.Exec("/init", []string{"/init"}, env))
}

// minRAM is the least memory in MiB with which the image's first boot
// reaches ready, per architecture and boot path (UEFI firmware keeps
// memory of its own; on arm64 the direct path needs more, the kernel
// unpacking the initramfs there with less room). Measured with
// `go run ./tools/bench/boot -min-memory` to 16 MiB (x86_64) and 32 MiB
// (arm64); see docs/benchmarks.md ("Least memory"). Below them the kernel
// runs out unpacking the initramfs, which tooLittleRAM reports.
var minRAM = map[string]struct{ direct, uefi int }{
	"amd64": {direct: 256, uefi: 304},
	"arm64": {direct: 288, uefi: 224},
}

// tooLittleRAM explains a truncated initramfs and never returns: the
// kernel ran out of memory unpacking it, so most of the system is missing.
func tooLittleRAM(log *console.Logger) {
	total := "unknown"
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "MemTotal:") {
				total = strings.TrimSpace(strings.TrimPrefix(line, "MemTotal:"))
			}
		}
	}
	for {
		log.Printf("FATAL: the initramfs is incomplete: the kernel ran out of memory unpacking it (RAM: %s).", total)
		if m, ok := minRAM[runtime.GOARCH]; ok {
			log.Printf("This image needs at least %d MiB of RAM booted directly, %d MiB through UEFI firmware; give the machine more memory and boot again.", m.direct, m.uefi)
		} else {
			log.Printf("This image needs more RAM; give the machine more memory and boot again.")
		}
		time.Sleep(time.Minute)
	}
}

// thpEnabled is the kernel's transparent huge page policy.
const thpEnabled = "/sys/kernel/mm/transparent_hugepage/enabled"

// hugePagesOnRequest sets transparent huge pages to "madvise" unless the
// kernel command line chose a policy. Debian's kernels default to "always",
// which backs every 2 MiB-aligned touch of a Go heap with a whole huge page:
// each of Skerry's small processes then holds megabytes it does not use
// (init measured 9.4 MB anonymous, 8 MB of it huge pages, with 1.7 MB of
// heap in use). It runs before stage 2 is exec'd, so no Skerry process
// starts under "always".
func hugePagesOnRequest() error {
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return err
	}
	if strings.Contains(string(cmdline), "transparent_hugepage=") {
		return nil
	}
	if err := os.MkdirAll("/sys", 0o755); err != nil {
		return err
	}
	if err := (rootfs.Mount{Source: "sysfs", Target: "/sys", FSType: "sysfs"}).Do(); err != nil {
		return err
	}
	defer unix.Unmount("/sys", 0)
	if _, err := os.Stat(thpEnabled); os.IsNotExist(err) {
		return nil // a kernel without transparent huge pages
	}
	return os.WriteFile(thpEnabled, []byte("madvise"), 0)
}
