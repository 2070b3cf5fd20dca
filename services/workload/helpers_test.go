package workload

import (
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"

	"github.com/skerry/skerry/services/workload/workloadtest"
)

func startContainerd(t *testing.T) *containerd.Client { return workloadtest.Containerd(t) }

// hostArch is the GOARCH images for this host's containers are built for.
var hostArch = runtime.GOARCH

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

func readLog(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

// syscallKill0 reports whether a process exists (signal 0).
func syscallKill0(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Signal(syscall.Signal(0))
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
