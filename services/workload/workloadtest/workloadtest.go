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

// Binaries builds containerd, its shim, runc (with seccomp) and ctr from
// the versions go.mod pins, once per process, and returns their directory.
var Binaries = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "workload-bin")
	if err != nil {
		return "", err
	}
	for _, b := range []struct{ name, pkg, tags string }{
		{"containerd", "github.com/containerd/containerd/v2/cmd/containerd", "no_btrfs no_devmapper no_zfs no_aufs no_cri no_tracing"},
		{"containerd-shim-runc-v2", "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2", ""},
		// With seccomp, as in the image: libseccomp-dev from ci/install-deps.
		{"runc", "github.com/opencontainers/runc", "netgo osusergo seccomp"},
		// containerd's own CLI: the baseline of tools/bench/workload.
		{"ctr", "github.com/containerd/containerd/v2/cmd/ctr", ""},
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
	d, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("containerd log:\n%s", tail(d.Log(), 4000))
		}
		d.Close()
	})
	return d.Client
}

// Daemon is a running containerd.
type Daemon struct {
	Dir    string // root, state, socket and log
	Bin    string // containerd, shim, runc and ctr
	Socket string
	Client *containerd.Client
	cmd    *exec.Cmd
}

// Log returns containerd's output so far.
func (d *Daemon) Log() string {
	b, _ := os.ReadFile(filepath.Join(d.Dir, "containerd.log"))
	return string(b)
}

// Close stops containerd and removes its directory.
func (d *Daemon) Close() {
	if d.Client != nil {
		d.Client.Close()
	}
	d.cmd.Process.Kill()
	d.cmd.Wait()
	os.RemoveAll(d.Dir)
}

// Start runs a containerd with its own root, state and socket in a new
// directory under /tmp (as root), and connects a client.
func Start() (*Daemon, error) {
	bin, err := Binaries()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("/tmp", "ctrd")
	if err != nil {
		return nil, err
	}
	d := &Daemon{Dir: dir, Bin: bin, Socket: filepath.Join(dir, "c.sock")}
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
  address = "`+d.Socket+`"
[ttrpc]
  address = "`+d.Socket+`.ttrpc"
`), 0o600)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	d.cmd = exec.Command(filepath.Join(bin, "containerd"), "--config", conf)
	d.cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logf.Close()
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	fail := func(err error) (*Daemon, error) {
		d.Close()
		return nil, err
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(d.Socket); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("containerd: no socket after 30s:\n%s", tail(d.Log(), 4000)))
		}
	}
	if d.Client, err = containerd.New(d.Socket); err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := d.Client.Version(ctx); err != nil {
		return fail(fmt.Errorf("containerd version: %w", err))
	}
	return d, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
