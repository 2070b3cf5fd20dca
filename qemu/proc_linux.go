package qemu

import "syscall"

// sysProcAttr puts a child in its own process group, so Close can kill
// all of it, and has the kernel kill it when the Go process dies: a test
// binary killed by a timeout must not leave QEMU running. (Pdeathsig fires
// when the thread that started the child exits; Go keeps its threads
// unless a goroutine exits while locked to one, which the bench never does.)
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func killGroup(pid int) { syscall.Kill(-pid, syscall.SIGKILL) }
