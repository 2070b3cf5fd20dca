package main

import (
	"encoding/json"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/skerry/skerry/init/internal/console"
	"github.com/skerry/skerry/init/internal/rootfs"
	"github.com/skerry/skerry/services/contract"
)

// stage2 runs in the tmpfs root and does not return while the system runs.
// Each step lives in a file of its own: modules.go, config.go, perm.go,
// network.go, supervise.go (signals and power in power.go, the control
// socket in control.go), bootrecord.go. PID 1 has no one to return an
// error to: what fails and does not stop the boot is logged on the
// console, never dropped.
func stage2(log *console.Logger) error {
	if err := rootfs.MountAll(rootfs.Base); err != nil {
		return err
	}
	// Ctrl-Alt-Del becomes SIGINT to init, for an orderly reboot.
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF); err != nil {
		log.Printf("Ctrl-Alt-Del stays a hard reset: %v", err)
	}
	initStart, _ := strconv.ParseInt(os.Getenv(initStartEnv), 10, 64)
	if m := os.Getenv(movedEnv); m != "" {
		log.Printf("%s", m)
	}
	for _, e := range []string{stageEnv, initStartEnv, movedEnv} {
		os.Unsetenv(e)
	}

	rel := readRelease(log)
	log.Printf("Skerry %s on %s, kernel %s", rel.Version, rel.Board, rel.Kernel)
	rec := newBootRecord(log, contract.BootFile, contract.Boot{Image: rel, BootID: readTrim("/proc/sys/kernel/random/boot_id")})

	// Modules before anything that needs a driver: disks, NICs, TPM.
	rec.update(func(b *contract.Boot) { b.Modules = loadModules(log) })

	cfg := loadSiteConfig(log)
	setHostname(log, cfg.Hostname)

	perm := mountPerm(log)
	rec.update(func(b *contract.Boot) { b.Perm = perm })

	startNetwork(log, cfg.Network, rec)

	specs, err := serviceSpecs(cfg)
	if err != nil {
		return err
	}
	return supervise(log, specs, rec, time.Duration(initStart))
}

// readRelease reads the image's release record; a box without one still
// boots, saying so.
func readRelease(log *console.Logger) contract.Release {
	var rel contract.Release
	data, err := os.ReadFile(contract.ReleaseFile)
	if err == nil {
		err = json.Unmarshal(data, &rel)
	}
	if err != nil {
		log.Printf("release record %s: %v", contract.ReleaseFile, err)
	}
	return rel
}
