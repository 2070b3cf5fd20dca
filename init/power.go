package main

import (
	"encoding/binary"
	"os"
	"os/signal"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/skerry/skerry/init/internal/console"
)

// watchSignals turns signals into power requests: SIGTERM and SIGINT
// (Ctrl-Alt-Del) reboot, SIGUSR2 and SIGPWR power off.
func watchSignals(request func(cmd int)) {
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
}

// watchPowerButton turns a press of the power button (ACPI on x86, a GPIO
// key on arm boards, QEMU's system_powerdown on both) into an orderly
// power off, as an operator expects of an appliance.
func watchPowerButton(log *console.Logger, powerOff func()) {
	devs, _ := filepath.Glob("/dev/input/event*")
	for _, d := range devs {
		f, err := os.Open(d)
		if err != nil {
			log.Printf("power button: %v", err)
			continue
		}
		go func() {
			defer f.Close()
			// struct input_event on 64-bit: timeval (16), type, code (u16),
			// value (s32).
			buf := make([]byte, 24)
			for {
				if _, err := f.Read(buf); err != nil {
					return
				}
				typ := binary.LittleEndian.Uint16(buf[16:])
				code := binary.LittleEndian.Uint16(buf[18:])
				value := int32(binary.LittleEndian.Uint32(buf[20:]))
				const evKey, keyPower = 1, 116
				if typ == evKey && code == keyPower && value == 1 {
					log.Printf("power button pressed")
					powerOff()
				}
			}
		}()
	}
}
