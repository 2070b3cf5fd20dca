// Package rootfs sets up the filesystems init needs, described as data: a
// list of mounts, each printed the way the shell command would read.
package rootfs

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Mount is one filesystem to mount.
type Mount struct {
	Source, Target, FSType string
	Flags                  uintptr
	Data                   string
	Mode                   os.FileMode // of the target directory, created if missing
}

func (m Mount) String() string {
	opts := flagNames(m.Flags)
	if m.Data != "" {
		opts = append(opts, m.Data)
	}
	o := ""
	if len(opts) > 0 {
		o = " -o " + strings.Join(opts, ",")
	}
	return fmt.Sprintf("mount -t %s%s %s %s", m.FSType, o, m.Source, m.Target)
}

func flagNames(f uintptr) []string {
	var out []string
	for _, n := range []struct {
		bit  uintptr
		name string
	}{{unix.MS_RDONLY, "ro"}, {unix.MS_NOSUID, "nosuid"}, {unix.MS_NODEV, "nodev"}, {unix.MS_NOEXEC, "noexec"}, {unix.MS_NOATIME, "noatime"}, {unix.MS_RELATIME, "relatime"}} {
		if f&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// Do mounts m, creating the target. A target that already has this
// filesystem (EBUSY) is left as it is.
func (m Mount) Do() error {
	mode := m.Mode
	if mode == 0 {
		mode = 0o755
	}
	if err := os.MkdirAll(m.Target, mode); err != nil {
		return fmt.Errorf("%s: %w", m, err)
	}
	if err := unix.Mount(m.Source, m.Target, m.FSType, m.Flags, m.Data); err != nil && !errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("%s: %w", m, err)
	}
	return nil
}

const (
	nsd   = unix.MS_NOSUID | unix.MS_NODEV
	nsdex = nsd | unix.MS_NOEXEC
)

// Base is what the running system mounts first, in order.
var Base = []Mount{
	{Source: "proc", Target: "/proc", FSType: "proc", Flags: nsdex},
	{Source: "sysfs", Target: "/sys", FSType: "sysfs", Flags: nsdex},
	{Source: "devtmpfs", Target: "/dev", FSType: "devtmpfs", Flags: unix.MS_NOSUID, Data: "mode=0755"},
	{Source: "devpts", Target: "/dev/pts", FSType: "devpts", Flags: unix.MS_NOSUID | unix.MS_NOEXEC, Data: "gid=5,mode=0620,ptmxmode=0666"},
	{Source: "tmpfs", Target: "/dev/shm", FSType: "tmpfs", Flags: nsd, Mode: 0o1777},
	{Source: "tmpfs", Target: "/run", FSType: "tmpfs", Flags: nsd, Data: "mode=0755"},
	{Source: "tmpfs", Target: "/tmp", FSType: "tmpfs", Flags: nsd, Mode: 0o1777, Data: "mode=1777"},
	{Source: "cgroup2", Target: "/sys/fs/cgroup", FSType: "cgroup2", Flags: nsdex, Data: "nsdelegate"},
	{Source: "securityfs", Target: "/sys/kernel/security", FSType: "securityfs", Flags: nsdex},
}

// MountAll mounts each in order and stops at the first failure.
func MountAll(ms []Mount) error {
	for _, m := range ms {
		if err := m.Do(); err != nil {
			return err
		}
	}
	return nil
}
