package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"golang.org/x/sys/unix"

	"github.com/skerry/skerry/init/internal/console"
	"github.com/skerry/skerry/init/internal/supervisor"
	"github.com/skerry/skerry/services/contract"
)

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
	// An orderly end comes from a signal, the power button or the control
	// socket (power.go, control.go).
	end := make(chan int, 1)
	request := func(cmd int) {
		select {
		case end <- cmd:
		default:
		}
	}
	watchSignals(request)
	serveControl(log, sup, rec.bootID(), request)
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
			if !b.Perm.Mounted {
				log.Printf("WARNING: services are up, but /perm is in RAM: the status API reports the box as not ready")
			}
		})
	case cmd := <-end:
		end <- cmd
	case err := <-done:
		cancel()
		return fmt.Errorf("supervisor: %w", err)
	}
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
	err = unix.Reboot(cmd)
	return fmt.Errorf("reboot(%s) returned: %v", what, err)
}
