package qemu

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// paused is a VM that QEMU starts with its CPUs stopped (-S): every device
// and process exists, the guest costs no CPU. The tests of the bench's
// plumbing need nothing more.
func paused(t *testing.T, cfg Config) *VM {
	t.Helper()
	cfg.ExtraArgs = append(cfg.ExtraArgs, "-S")
	return start(t, cfg)
}

// TestCloseKillsEverything checks that Close leaves no QEMU, no swtpm and
// no directory behind, and may be called again.
func TestCloseKillsEverything(t *testing.T) {
	b := lookup(t, "qemu-x86_64")
	vmTest(t, b.QEMU.Binary, "swtpm")
	vm := paused(t, Config{Board: b, Kernel: kernel(t, b), TPM: &TPM{Blank: true}})

	var names []string
	for _, c := range children(t, "qemu", "swtpm") {
		names = append(names, c.comm)
	}
	if diff := cmp.Diff([]string{"qemu-system-x86", "swtpm"}, slices.Sorted(slices.Values(names))); diff != "" {
		t.Fatalf("children of the test before Close (-want +got):\n%s", diff)
	}
	for i := range 2 {
		if err := vm.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	if got := children(t, "qemu", "swtpm"); len(got) != 0 {
		t.Errorf("children after Close: got %v, want none", got)
	}
	if _, err := os.Stat(vm.Dir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("vm directory after Close: got %v, want it gone", err)
	}
	if _, err := vm.Expect(t.Context(), "x"); !errors.Is(err, ErrClosed) {
		t.Errorf("Expect after Close: got %v, want ErrClosed", err)
	}
	if err := vm.Powerdown(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("Powerdown after Close: got %v, want ErrClosed", err)
	}
}

// TestQuit checks the QMP path: quit ends QEMU with a clean exit.
func TestQuit(t *testing.T) {
	b := lookup(t, "qemu-arm64")
	vmTest(t, b.QEMU.Binary)
	vm := paused(t, Config{Board: b, Kernel: kernel(t, b)})
	var status struct {
		Status string `json:"status"`
	}
	if err := vm.QMP(t.Context(), "query-status", nil, &status); err != nil {
		t.Fatal(err)
	}
	if status.Status != "prelaunch" && status.Status != "paused" {
		t.Errorf("query-status: got %q, want a stopped VM", status.Status)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := vm.Quit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := vm.Wait(ctx); err != nil {
		t.Errorf("Wait after Quit: %v", err)
	}
}

// TestForwardsLoopbackOnly checks that each forwarded guest port has its
// own host port, bound to 127.0.0.1 and nowhere else.
func TestForwardsLoopbackOnly(t *testing.T) {
	b := lookup(t, "qemu-x86_64")
	vmTest(t, b.QEMU.Binary)
	vm := paused(t, Config{Board: b, Kernel: kernel(t, b), Forwards: []int{22, 8080}})
	seen := map[int]bool{}
	for _, guest := range []int{22, 8080} {
		addr := vm.HostAddr(guest)
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host != "127.0.0.1" || seen[vm.HostPort(guest)] {
			t.Fatalf("HostAddr(%d) = %q: want a fresh port on 127.0.0.1", guest, addr)
		}
		seen[vm.HostPort(guest)] = true
		if got := listeners(t, port); !cmp.Equal(got, []string{"127.0.0.1"}) {
			t.Errorf("port %s listens on %v, want 127.0.0.1 only", port, got)
		}
		// User-mode networking accepts for the guest even while it is
		// stopped: the connection itself proves the forward.
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Errorf("dial %s: %v", addr, err)
			continue
		}
		conn.Close()
	}
	if got := vm.HostAddr(9999); got != "" {
		t.Errorf("HostAddr of a port not forwarded: got %q, want empty", got)
	}
}

// listeners returns the local addresses with a TCP listener on port, from
// /proc/net/tcp and tcp6.
func listeners(t *testing.T, port string) []string {
	t.Helper()
	var addrs []string
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) < 4 || fields[3] != "0A" { // 0A: LISTEN
				continue
			}
			ip, p, _ := strings.Cut(fields[1], ":")
			var n int
			fmt.Sscanf(p, "%X", &n)
			if fmt.Sprint(n) != port {
				continue
			}
			addrs = append(addrs, procIP(ip))
		}
	}
	return addrs
}

// procIP decodes an IPv4 address as /proc/net/tcp prints it (hex, host
// byte order on little-endian machines); IPv6 stays as it is.
func procIP(hex string) string {
	if len(hex) != 8 {
		return hex
	}
	var b [4]byte
	for i := range 4 {
		fmt.Sscanf(hex[2*i:2*i+2], "%02X", &b[3-i])
	}
	return net.IP(b[:]).String()
}

// TestTPMStateDir checks that a TPM state directory outlives its VM: the
// first VM manufactures the TPM and its CA, the second one reuses both.
func TestTPMStateDir(t *testing.T) {
	b := lookup(t, "qemu-x86_64")
	vmTest(t, b.QEMU.Binary, "swtpm", "swtpm_setup", "swtpm_localca")
	tpm := &TPM{StateDir: t.TempDir()}
	k := kernel(t, b)

	vm := paused(t, Config{Board: b, Kernel: k, TPM: tpm})
	certs := vm.TPMCACerts()
	var before []string
	for _, c := range certs {
		data, err := os.ReadFile(c)
		if err != nil {
			t.Fatalf("CA certificate of a manufactured TPM: %v", err)
		}
		before = append(before, string(data))
	}
	if err := vm.Close(); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(tpm.StateDir, "tpm2-00.permall")
	permall, err := os.ReadFile(state)
	if err != nil {
		t.Fatalf("TPM state after Close: %v", err)
	}

	vm = paused(t, Config{Board: b, Kernel: k, TPM: tpm})
	var after []string
	for _, c := range vm.TPMCACerts() {
		data, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		after = append(after, string(data))
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("CA changed between VMs sharing a TPM (-first +second):\n%s", diff)
	}
	// A second manufacture would have made new endorsement keys.
	if again, err := os.ReadFile(state); err != nil || string(again) != string(permall) {
		t.Errorf("TPM state changed when the second VM started (err %v): manufactured again?", err)
	}
}
