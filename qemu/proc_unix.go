//go:build unix && !linux

package qemu

import "syscall"

// sysProcAttr: without Pdeathsig outside Linux, a child outlives a killed
// bench; Close still ends it.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func killGroup(pid int) { syscall.Kill(-pid, syscall.SIGKILL) }
