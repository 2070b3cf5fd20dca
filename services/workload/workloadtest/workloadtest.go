// Package workloadtest runs a real containerd for tests: containerd, its
// shim and runc built from the versions go.mod pins, with a root, state
// and socket private to the test.
package workloadtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"

	"github.com/skerry/skerry/qemu/testenv"
)

// binaries builds containerd, its shim and runc from the versions go.mod
// pins, once per test binary.
var binaries = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "workload-bin")
	if err != nil {
		return "", err
	}
	for _, b := range []struct{ name, pkg, tags string }{
		{"containerd", "github.com/containerd/containerd/v2/cmd/containerd", "no_btrfs no_devmapper no_zfs no_aufs no_cri no_tracing"},
		{"containerd-shim-runc-v2", "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2", ""},
		// With seccomp, as in the image: libseccomp-dev from ci/install-deps.
		{"runc", "github.com/opencontainers/runc", "netgo osusergo seccomp"},
	} {
		cmd := exec.Command("go", "build", "-tags", b.tags, "-o", filepath.Join(dir, b.name), b.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("build %s: %v: %s", b.name, err, out)
		}
	}
	return dir, nil
})

// Containerd runs a real containerd for the test, with its own root,
// state and socket, and returns a client.
func Containerd(t testing.TB) *containerd.Client {
	t.Helper()
	testenv.Integration(t, testenv.Root(), testenv.Tools("go", "gcc", "pkg-config"))
	bin, err := binaries()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("/tmp", "ctrd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "c.sock")
	conf := filepath.Join(dir, "config.toml")
	err = os.WriteFile(conf, []byte(`version = 3
root = "`+dir+`/root"
state = "`+dir+`/state"
disabled_plugins = [
  "io.containerd.nri.v1.nri",
  "io.containerd.snapshotter.v1.blockfile",
  "io.containerd.snapshotter.v1.erofs",
  "io.containerd.differ.v1.erofs",
]
[grpc]
  address = "`+sock+`"
[ttrpc]
  address = "`+sock+`.ttrpc"
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, "containerd"), "--config", conf)
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("containerd log:\n%s", tail(string(b), 4000))
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("containerd: no socket after 30s")
		}
	}
	c, err := containerd.New(sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Version(ctx); err != nil {
		t.Fatalf("containerd version: %v", err)
	}
	return c
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
