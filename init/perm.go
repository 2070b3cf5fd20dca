package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/skerry/skerry/init/internal/console"
	"github.com/skerry/skerry/init/internal/perm"
	"github.com/skerry/skerry/init/internal/rootfs"
	"github.com/skerry/skerry/services/atomicfile"
	"github.com/skerry/skerry/services/contract"
)

// mountPerm mounts /perm; when it cannot, /perm is a tmpfs so services
// still run, and the status API says that nothing will persist (and that
// the box is not ready).
func mountPerm(log *console.Logger) contract.Perm {
	dev, err := perm.FindByLabel(contract.PermLabel, 5*time.Second)
	var r perm.Result
	if err == nil {
		r, err = perm.Mount(dev, contract.PermMount)
	}
	if err != nil {
		log.Printf("perm: %v", err)
		log.Printf("perm: WARNING: /perm is in RAM; nothing written this boot will survive it")
		if err := (rootfs.Mount{Source: "tmpfs", Target: contract.PermMount, FSType: "tmpfs", Data: "mode=0755"}).Do(); err != nil {
			log.Printf("perm: not even a tmpfs on /perm: %v", err)
		}
		return contract.Perm{Error: err.Error()}
	}
	boots, err := countBoot(filepath.Join(contract.PermMount, ".skerry/boots"))
	if err != nil {
		log.Printf("perm: boot counter: %v", err)
	}
	switch {
	case r.Reformatted:
		log.Printf("perm: %s held a first-boot format cut short (power lost during mke2fs); formatted it again and mounted it on /perm", r.Device)
	case r.Formatted:
		log.Printf("perm: formatted %s (first boot) and mounted it on /perm", r.Device)
	default:
		log.Printf("perm: %s mounted on /perm (fsck: %s), boot number %d", r.Device, r.Checked, boots)
	}
	return contract.Perm{Device: r.Device, Mounted: true, Formatted: r.Formatted, Checked: r.Checked, Boots: boots}
}

// countBoot increments the boot counter kept at p and returns it. The new
// count is durable (file and directory synced) when it returns without an
// error: a power cut a moment later still finds the boot counted.
func countBoot(p string) (int, error) {
	n := 0
	var damaged error
	if data, err := os.ReadFile(p); err == nil {
		if n, err = strconv.Atoi(strings.TrimSpace(string(data))); err != nil {
			n, damaged = 0, fmt.Errorf("%s held %q, not a count; counting again from 1", p, data)
		}
	} else if !os.IsNotExist(err) {
		return 0, err
	}
	n++
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return n, err
	}
	if err := atomicfile.WriteFile(p, []byte(strconv.Itoa(n)+"\n"), 0o644); err != nil {
		return n, err
	}
	return n, damaged
}
