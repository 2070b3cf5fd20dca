package supervisor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skerry/skerry/qemu/testenv"

	"golang.org/x/sys/unix"
)

func TestCgroupRootMustBeCgroup2(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir() // not cgroup2 anywhere tests run
	tests := []struct {
		name, root, wantMsg string
	}{
		{"missing parent", "/nonexistent-skerry/skerry", "statfs /nonexistent-skerry: no such file or directory (mount cgroup2 at /sys/fs/cgroup first)"},
		{"not cgroup2", filepath.Join(tmp, "skerry"), tmp + " is not on a cgroup2 filesystem (mount cgroup2 at /sys/fs/cgroup first)"},
		{"existing dir not cgroup2", tmp, tmp + " is not on a cgroup2 filesystem"},
		{"relative", "skerry", "path is not absolute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(nil, WithCgroupRoot(tt.root))
			if !errors.Is(err, ErrNoCgroup2) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("New: got %v, want ErrNoCgroup2 saying %q", err, tt.wantMsg)
			}
		})
	}
}

// TestCgroupLive runs a service in a real cgroup2. The host that runs unit
// tests has cgroup v1, so it mounts the (controller-less) cgroup2 hierarchy
// in a temporary directory; it needs root and SKERRY_INTEGRATION=1. Limits
// need the memory and pids controllers and are covered by the VM tests.
func TestCgroupLive(t *testing.T) {
	testenv.Integration(t, testenv.Root())
	t.Parallel()
	mnt := t.TempDir()
	if err := unix.Mount("none", mnt, "cgroup2", 0, ""); err != nil {
		t.Fatalf("mount cgroup2: %v (SKERRY_INTEGRATION=1 says this machine can)", err)
	}
	root := filepath.Join(mnt, fmt.Sprintf("skerry-test-%d", os.Getpid()))
	t.Cleanup(func() {
		// Empty cgroups are removed with rmdir, children first.
		os.Remove(filepath.Join(root, "svc"))
		os.Remove(root)
		unix.Unmount(mnt, 0)
	})

	// The grandchild leaves the process group: only cgroup.kill reaches it.
	sp := helperSpec(t, "svc", "serve", "GRANDCHILD=setsid")
	sp.Ready = ReadyNotify
	s, err := New([]Spec{sp}, WithCgroupRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	stop := runSupervisor(t, s)
	waitReady(t, s)
	pid := statusOf(t, s, "svc").PID
	procs, err := os.ReadFile(filepath.Join(root, "svc", "cgroup.procs"))
	if err != nil || !strings.Contains(string(procs), fmt.Sprintf("%d\n", pid)) {
		t.Errorf("cgroup.procs: got %q, %v, want it to hold pid %d", procs, err, pid)
	}
	var out []byte
	waitFor(t, 5*time.Second, "grandchild pid", func() bool {
		out, _ = s.Logs("svc")
		return strings.Contains(string(out), "\n")
	})
	grandchild := grandchildPID(t, out)
	stop()
	waitFor(t, 5*time.Second, "the escaped grandchild to die", func() bool { return dead(grandchild) })
}
