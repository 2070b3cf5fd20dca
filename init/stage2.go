package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/skerry/skerry/init/internal/console"
	"github.com/skerry/skerry/init/internal/kmod"
	"github.com/skerry/skerry/init/internal/netcfg"
	"github.com/skerry/skerry/init/internal/perm"
	"github.com/skerry/skerry/init/internal/rootfs"
	"github.com/skerry/skerry/init/internal/supervisor"
	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/siteconfig"
)

// stage2 runs in the tmpfs root and does not return while the system runs.
func stage2(log *console.Logger) error {
	if err := rootfs.MountAll(rootfs.Base); err != nil {
		return err
	}
	// Ctrl-Alt-Del becomes SIGINT to init, for an orderly reboot.
	unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF)
	initStart, _ := strconv.ParseInt(os.Getenv(initStartEnv), 10, 64)
	if m := os.Getenv(movedEnv); m != "" {
		log.Printf("%s", m)
	}
	for _, e := range []string{stageEnv, initStartEnv, movedEnv} {
		os.Unsetenv(e)
	}

	var rel contract.Release
	if data, err := os.ReadFile(contract.ReleaseFile); err == nil {
		json.Unmarshal(data, &rel)
	}
	log.Printf("Skerry %s on %s, kernel %s", rel.Version, rel.Board, rel.Kernel)
	rec := &bootRecord{b: contract.Boot{Image: rel, BootID: readTrim("/proc/sys/kernel/random/boot_id")}}
	boot := &rec.b

	// Modules before anything that needs a driver: disks, NICs, TPM.
	loadModules(log, boot)

	cfg := loadSiteConfig(log)
	hostname := cfg.Hostname
	if hostname == "" {
		hostname = "skerry"
	}
	unix.Sethostname([]byte(hostname))
	os.WriteFile("/etc/hostname", []byte(hostname+"\n"), 0o644)
	os.WriteFile("/etc/hosts", []byte("127.0.0.1 localhost "+hostname+"\n::1 localhost\n"), 0o644)

	mountPerm(log, boot)

	// The network comes up alongside the services, which do not wait for
	// it: a box must come up and keep its data flowing locally while its
	// uplink is down, and the lease is taken whenever a server answers.
	go func() {
		slow := time.AfterFunc(10*time.Second, func() {
			log.Printf("network: no address after 10s; still trying")
		})
		// The lease is retried until a server answers, then renewed for as
		// long as the box runs.
		netcfg.Run(context.Background(), cfg.Network, func(ev netcfg.Event) {
			slow.Stop()
			rec.update(func(b *contract.Boot) {
				switch {
				case ev.Err != nil:
					log.Printf("network: %v", ev.Err)
					b.Network = contract.Network{Interface: b.Network.Interface, Mode: b.Network.Mode, Error: ev.Err.Error()}
				case !ev.Renewed || ev.Result.Address != b.Network.Address:
					r := ev.Result
					log.Printf("network: %s %s via %s (%s)", r.Interface, r.Address, r.Gateway, r.Mode)
					b.Network = contract.Network{Interface: r.Interface, Address: r.Address, Gateway: r.Gateway, Mode: r.Mode}
				}
			})
		})
	}()

	if err := os.MkdirAll(filepath.Dir(contract.BootFile), 0o755); err != nil {
		return err
	}
	specs, err := serviceSpecs(cfg)
	if err != nil {
		return err
	}
	return supervise(log, specs, rec, time.Duration(initStart))
}

func loadModules(log *console.Logger, boot *contract.Boot) {
	data, err := os.ReadFile(contract.ModulesFile)
	if err != nil {
		log.Printf("modules: %v", err)
		return
	}
	dir, err := kmod.Dir()
	if err != nil {
		log.Printf("modules: %v", err)
		return
	}
	loaded, err := kmod.Load(dir, strings.Fields(string(data)))
	if err != nil {
		log.Printf("modules: %v", err)
	}
	boot.Modules = loaded
	log.Printf("loaded %d kernel modules", len(loaded))
}

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

// mountPerm mounts /perm; when it cannot, /perm is a tmpfs so services
// still run, and the status API says that nothing will persist.
func mountPerm(log *console.Logger, boot *contract.Boot) {
	dev, err := perm.FindByLabel(contract.PermLabel, 5*time.Second)
	var r perm.Result
	if err == nil {
		r, err = perm.Mount(dev, contract.PermMount)
	}
	if err != nil {
		log.Printf("perm: %v", err)
		log.Printf("perm: WARNING: /perm is in RAM; nothing written this boot will survive it")
		(rootfs.Mount{Source: "tmpfs", Target: contract.PermMount, FSType: "tmpfs", Data: "mode=0755"}).Do()
		boot.Perm = contract.Perm{Error: err.Error()}
		return
	}
	boots := countBoot(filepath.Join(contract.PermMount, ".skerry/boots"))
	boot.Perm = contract.Perm{Device: r.Device, Mounted: true, Formatted: r.Formatted, Checked: r.Checked, Boots: boots}
	if r.Formatted {
		log.Printf("perm: formatted %s (first boot) and mounted it on /perm", r.Device)
	} else {
		log.Printf("perm: %s mounted on /perm (fsck: %s), boot number %d", r.Device, r.Checked, boots)
	}
}

// countBoot increments the boot counter kept on /perm and returns it.
func countBoot(p string) int {
	n, _ := strconv.Atoi(readTrim(p))
	n++
	os.MkdirAll(filepath.Dir(p), 0o755)
	if f, err := os.Create(p + ".tmp"); err == nil {
		fmt.Fprintf(f, "%d\n", n)
		f.Sync()
		f.Close()
		os.Rename(p+".tmp", p)
	}
	return n
}

func readTrim(p string) string {
	data, _ := os.ReadFile(p)
	return strings.TrimSpace(string(data))
}

// supervise runs the services until a poweroff or reboot is asked for,
// then stops them in order and ends the system. It does not return unless
// the supervisor cannot start.
func supervise(log *console.Logger, specs []supervisor.Spec, rec *bootRecord, initStart time.Duration) error {
	slogger := slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	rec.update(func(*contract.Boot) {}) // the status API reads it from the start
	reaper := supervisor.NewReaper(slogger)
	sup, err := supervisor.New(specs, supervisor.WithLogger(slogger), supervisor.WithReaper(reaper),
		supervisor.WithCgroupRoot("/sys/fs/cgroup/skerry"), supervisor.WithLogSink(consoleSink(log)))
	if err != nil {
		return err
	}
	// An orderly end comes from a signal (SIGTERM or Ctrl-Alt-Del: reboot;
	// SIGUSR2 or SIGPWR: power off) or from the control socket.
	end := make(chan int, 1)
	request := func(cmd int) {
		select {
		case end <- cmd:
		default:
		}
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGUSR2, unix.SIGPWR)
	go func() {
		for s := range sigs {
			if s == unix.SIGUSR2 || s == unix.SIGPWR {
				request(unix.LINUX_REBOOT_CMD_POWER_OFF)
			} else {
				request(unix.LINUX_REBOOT_CMD_RESTART)
			}
		}
	}()
	if err := serveControl(log, sup, rec.bootID(), request); err != nil {
		log.Printf("control socket: %v", err)
	}
	go watchPowerButton(log, func() { request(unix.LINUX_REBOOT_CMD_POWER_OFF) })

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx) }()

	select {
	case <-sup.AllReady():
		up := console.Uptime()
		rec.update(func(b *contract.Boot) {
			b.Ready, b.ReadySeconds = true, up.Seconds()
			log.Printf("%s", contract.ReadyLine{Version: b.Image.Version, Board: b.Image.Board,
				SinceKernel: up, SinceInit: up - initStart, BootID: b.BootID})
		})
	case cmd := <-end:
		end <- cmd
	case err := <-done:
		cancel()
		return fmt.Errorf("supervisor: %w", err)
	}
	rec.update(func(*contract.Boot) {})
	// The boot's garbage (module loading, site config, DHCP) is gone: hand
	// its pages back now rather than when the scavenger gets to them, so
	// that init idles at its working set.
	debug.FreeOSMemory()
	cmd := <-end
	what := map[int]string{unix.LINUX_REBOOT_CMD_POWER_OFF: "power off", unix.LINUX_REBOOT_CMD_RESTART: "reboot"}[cmd]
	log.Printf("%s requested: stopping services", what)
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		log.Printf("supervisor: %v", err)
	}
	shutdown(log, reaper)
	log.Printf("%s now", what)
	unix.Reboot(cmd)
	return fmt.Errorf("reboot(%s) returned", what)
}

// bootRecord is what init learned while booting, kept in BootFile for the
// status API. The network may finish after the services started, hence
// the lock.
type bootRecord struct {
	mu sync.Mutex
	b  contract.Boot
}

// update changes the record and writes it out atomically.
func (r *bootRecord) update(fn func(*contract.Boot)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(&r.b)
	data, _ := json.MarshalIndent(&r.b, "", "  ")
	os.MkdirAll(filepath.Dir(contract.BootFile), 0o755)
	os.WriteFile(contract.BootFile+".tmp", data, 0o644)
	os.Rename(contract.BootFile+".tmp", contract.BootFile)
}

func (r *bootRecord) bootID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.b.BootID
}
