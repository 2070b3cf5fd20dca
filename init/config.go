package main

import (
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/skerry/skerry/init/internal/console"
	"github.com/skerry/skerry/init/internal/perm"
	"github.com/skerry/skerry/init/internal/rootfs"
	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/siteconfig"
)

// loadSiteConfig mounts the EFI system partition, where a config written
// at flash time wins over the one baked into the image, and resolves the
// config as every service does (siteconfig.Resolve). A broken file is
// reported and the next one used, so a typo cannot brick a box.
func loadSiteConfig(log *console.Logger) *siteconfig.Config {
	dev, err := perm.FindByLabel(contract.ESPLabel, 3*time.Second)
	if err == nil {
		err = (rootfs.Mount{Source: dev, Target: contract.ESPMount, FSType: "vfat", Flags: unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC}).Do()
	}
	if err != nil {
		log.Printf("site config: no EFI system partition (%v); using the image's", err)
	}
	cfg, from := siteconfig.Resolve(func(msg string) { log.Printf("site config: %s", msg) }, siteconfig.ESPPath, siteconfig.BakedPath)
	if from == "" {
		from = "defaults"
	}
	log.Printf("site config from %s", from)
	return cfg
}

// setHostname sets the kernel's hostname ("skerry" when the config names
// none) and writes /etc/hostname and /etc/hosts to match. Each failure is
// reported; none stops the boot.
func setHostname(log *console.Logger, name string) {
	if name == "" {
		name = "skerry"
	}
	if err := unix.Sethostname([]byte(name)); err != nil {
		log.Printf("hostname %q: %v", name, err)
	}
	for _, f := range []struct{ path, data string }{
		{"/etc/hostname", name + "\n"},
		{"/etc/hosts", "127.0.0.1 localhost " + name + "\n::1 localhost\n"},
	} {
		if err := os.WriteFile(f.path, []byte(f.data), 0o644); err != nil {
			log.Printf("hostname: %v", err)
		}
	}
}
