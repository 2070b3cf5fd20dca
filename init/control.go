package main

import (
	"context"

	"golang.org/x/sys/unix"

	"github.com/skerry/skerry/init/internal/console"
	"github.com/skerry/skerry/init/internal/supervisor"
	"github.com/skerry/skerry/services/contract"
)

// serveControl serves init's control socket (status, logs, service
// restarts, power) for the life of the system; a failure is logged.
func serveControl(log *console.Logger, sup *supervisor.Supervisor, bootID string, request func(int)) {
	c := &supervisor.Control{
		Supervisor: sup,
		BootID:     bootID,
		Poweroff:   func() { request(unix.LINUX_REBOOT_CMD_POWER_OFF) },
		Reboot:     func() { request(unix.LINUX_REBOOT_CMD_RESTART) },
	}
	go func() {
		if err := c.Serve(context.Background(), contract.InitSocket); err != nil {
			log.Printf("control socket: %v", err)
		}
	}()
}
