package main

import (
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/skerry/skerry/init/internal/console"
	"github.com/skerry/skerry/init/internal/supervisor"
	"github.com/skerry/skerry/services/contract"
)

// shutdown ends whatever the services left behind, then makes the disks
// consistent: every process is asked, then made, to exit; filesystems are
// synced and unmounted (or at least remounted read-only).
func shutdown(log *console.Logger, reaper *supervisor.Reaper) {
	unix.Kill(-1, unix.SIGTERM)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && othersAlive() {
		time.Sleep(50 * time.Millisecond)
	}
	if othersAlive() {
		log.Printf("killing processes that did not exit within 3s")
		unix.Kill(-1, unix.SIGKILL)
		time.Sleep(100 * time.Millisecond)
	}
	reaper.Close()
	unix.Sync()
	for _, m := range []string{contract.PermMount, contract.ESPMount} {
		if err := unix.Unmount(m, 0); err != nil && err != unix.EINVAL {
			log.Printf("umount %s: %v; remounting it read-only", m, err)
			unix.Mount("", m, "", unix.MS_REMOUNT|unix.MS_RDONLY, "")
		}
	}
	unix.Sync()
	log.Printf("filesystems synced and unmounted")
}

// othersAlive reports whether any process but init and kernel threads is
// left.
func othersAlive() bool {
	ents, _ := readDirNames("/proc")
	for _, e := range ents {
		if e == "1" || e[0] < '0' || e[0] > '9' {
			continue
		}
		// Kernel threads have an empty cmdline.
		if cmd, err := os.ReadFile("/proc/" + e + "/cmdline"); err == nil && len(cmd) > 0 {
			return true
		}
	}
	return false
}

func readDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}
