package main

import (
	"encoding/binary"
	"os"
	"path/filepath"

	"github.com/skerry/skerry/init/internal/console"
)

// watchPowerButton turns a press of the power button (ACPI on x86, a GPIO
// key on arm boards, QEMU's system_powerdown on both) into an orderly
// power off, as an operator expects of an appliance.
func watchPowerButton(log *console.Logger, powerOff func()) {
	devs, _ := filepath.Glob("/dev/input/event*")
	for _, d := range devs {
		f, err := os.Open(d)
		if err != nil {
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

func readDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}
