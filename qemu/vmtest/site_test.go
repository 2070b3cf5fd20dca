package vmtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/skerry/skerry/board"
	"github.com/skerry/skerry/image"
	"github.com/skerry/skerry/qemu"
	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/health"
	"github.com/skerry/skerry/services/siteconfig"
)

// Guest ports the test reaches through QEMU's forwarding.
const (
	healthPort     = qemu.BenchHealthPort
	containerdPort = 10010
)

// healthToken opens the status API to QEMU's forwarding: writeESPFile puts
// it in every site config the tests write, and the requests carry it.
var healthToken = qemu.NewToken()

// healthRequest is a request to the status API with the bench's token.
func healthRequest(ctx context.Context, method, url string) *http.Request {
	req, _ := http.NewRequestWithContext(ctx, method, url, nil)
	req.Header.Set("Authorization", "Bearer "+healthToken)
	return req
}

// readyRE matches init's ready line (see services/contract).
var readyRE = contract.ReadyLineRE

// bootTimeout is generous: arm64 runs under TCG on an x86 host, and CI
// machines are shared.
func bootTimeout(b *board.Board) time.Duration {
	if b.Arch == "arm64" {
		return 6 * time.Minute
	}
	return 3 * time.Minute
}

// TestSite boots each board's disk image through its UEFI firmware once
// and runs every check against that one boot: ready line, status API,
// TPM, a container from an OCI archive, /perm across a reboot, and a clean
// power off from the power button.
func TestSite(t *testing.T) {
	for _, name := range []string{"qemu-x86_64", "qemu-arm64"} {
		t.Run(name, func(t *testing.T) {
			b, err := board.Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			disk := imagePath(t, name, image.DiskFile)
			testSite(t, b, disk)
		})
	}
}

func testSite(t *testing.T, b *board.Board, builtDisk string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	// A sparse copy of the disk with a flash-time site config on its EFI
	// system partition, as an operator would write one: it switches on the
	// debug endpoints this test drives the box with.
	disk := filepath.Join(t.TempDir(), "disk.img")
	copyDisk(t, builtDisk, disk)
	cfg := siteconfig.Default()
	cfg.Hostname = "vmtest-" + b.Arch
	cfg.Debug = siteconfig.Debug{Control: true, ContainerdTCP: fmt.Sprintf("0.0.0.0:%d", containerdPort)}
	writeESPFile(t, disk, "skerry/site.json", cfg)

	vm, err := qemu.Start(ctx, qemu.Config{
		Board:     b,
		Disk:      disk,
		DiskWrite: true,
		TPM:       &qemu.TPM{},
		Forwards:  []int{healthPort, containerdPort},
	}, qemu.WithConsoleLog(t.Logf, b.Arch+"| "))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vm.Close() })
	// On failure, the services' own output says more than the console.
	t.Cleanup(func() {
		if t.Failed() {
			for _, svc := range []string{"containerd", "health"} {
				t.Logf("%s's log:\n%s", svc, serviceLogs(vm, svc))
			}
		}
	})

	// 1. Boot to ready, with the boot time on the ready line.
	m := expect(t, ctx, vm, readyRE, bootTimeout(b))
	t.Logf("first boot: ready %.1fs after QEMU started (%ss since kernel start, %ss since /init)", m.Since.Seconds(), m.Groups[3], m.Groups[4])

	// 2. The status API: every service running, the TPM there, /perm
	// formatted on this first boot.
	st := getHealth(t, ctx, vm)
	checkHealthy(t, st, b)
	if !st.Perm.Mounted || !st.Perm.Formatted || st.Perm.Boots != 1 {
		t.Errorf("first boot /perm: got mounted=%v formatted=%v boots=%d, want mounted, formatted, boot 1", st.Perm.Mounted, st.Perm.Formatted, st.Perm.Boots)
	}
	if st.Hostname != cfg.Hostname {
		t.Errorf("hostname %q, want %q from the site config on the ESP", st.Hostname, cfg.Hostname)
	}
	firstBoot := st.BootID
	checkVaultUnsealed(t, vm, true)

	checkHealthNeedsToken(t, ctx, vm)

	// 3. A container from an OCI archive, through the containerd client.
	runContainer(t, ctx, vm, b)

	// 4. Reboot the same disk: /perm and containerd's content survive.
	debugPost(t, ctx, vm, "reboot")
	expect(t, ctx, vm, regexp.MustCompile(`init: filesystems synced and unmounted`), time.Minute)
	m = expect(t, ctx, vm, readyRE, bootTimeout(b))
	t.Logf("second boot: ready %.1fs after QEMU started", m.Since.Seconds())
	st = getHealth(t, ctx, vm)
	checkHealthy(t, st, b)
	if st.BootID == firstBoot {
		t.Errorf("boot id %s did not change across the reboot", st.BootID)
	}
	if !st.Perm.Mounted || st.Perm.Formatted || st.Perm.Boots != 2 {
		t.Errorf("second boot /perm: got mounted=%v formatted=%v boots=%d, want mounted, not formatted, boot 2", st.Perm.Mounted, st.Perm.Formatted, st.Perm.Boots)
	}
	checkVaultUnsealed(t, vm, false)
	checkImagePersisted(t, ctx, vm)

	// 5. The power button powers off in order, and QEMU exits by itself.
	if err := vm.Powerdown(ctx); err != nil {
		t.Fatalf("system_powerdown: %v", err)
	}
	expect(t, ctx, vm, regexp.MustCompile(`init: power button pressed`), time.Minute)
	expect(t, ctx, vm, regexp.MustCompile(`init: filesystems synced and unmounted`), time.Minute)
	expect(t, ctx, vm, regexp.MustCompile(`init: power off now`), time.Minute)
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	if err := vm.Wait(wctx); err != nil {
		t.Errorf("QEMU after power off: %v, want a clean exit", err)
	}
}

func expect(t *testing.T, ctx context.Context, vm *qemu.VM, re *regexp.Regexp, timeout time.Duration) qemu.Match {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	m, err := vm.ExpectRegexp(ctx, re)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// getHealth reads the status API, retrying while the guest's port is not
// yet reachable or its network still has no address (DHCP runs alongside
// the services, so it may finish just after the ready line).
func getHealth(t *testing.T, ctx context.Context, vm *qemu.VM) *health.Status {
	t.Helper()
	url := "http://" + vm.HostAddr(healthPort) + "/v1/health"
	var lastErr error
	// Three minutes: after a reboot an arm64 guest's NIC sometimes drops
	// the first DHCP exchange (init then retries with backoff); a box
	// without an address after that is a failure.
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		st, err := fetchHealth(ctx, url)
		if err == nil && st.Network.Address != "" {
			return st
		}
		if err == nil {
			err = fmt.Errorf("no network address yet: %+v", st.Network)
		}
		lastErr = err
	}
	t.Fatalf("GET %s: %v", url, lastErr)
	return nil
}

func fetchHealth(ctx context.Context, url string) (*health.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(healthRequest(ctx, http.MethodGet, url))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, body)
	}
	var st health.Status
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, fmt.Errorf("decode %s: %w", body, err)
	}
	return &st, nil
}

func checkHealthy(t *testing.T, st *health.Status, b *board.Board) {
	t.Helper()
	if !st.Ready {
		t.Errorf("status says not ready: %+v", st)
	}
	if len(st.Errors) > 0 {
		t.Errorf("status reports errors: %v", st.Errors)
	}
	if st.Image.Board != b.Name || st.Image.Arch != b.Arch || st.Image.Version == "" {
		t.Errorf("image %+v, want board %s arch %s and a version", st.Image, b.Name, b.Arch)
	}
	want := map[string]bool{"streamlog": true, "vault": true, "agent": true, "health": true, "containerd": true, "workload": true, "devproxy": true}
	for _, s := range st.Services {
		if s.State != "running" {
			t.Errorf("service %s is %s (last exit %q), want running", s.Name, s.State, s.LastExit)
		}
		if s.MemoryMax == 0 {
			t.Errorf("service %s has no cgroup memory limit", s.Name)
		}
		delete(want, s.Name)
	}
	for n := range want {
		t.Errorf("service %s missing from the status", n)
	}
	if !st.TPM.Present || st.TPM.Manufacturer == "" {
		t.Errorf("TPM %+v, want present with a manufacturer", st.TPM)
	}
	if st.Network.Address == "" {
		t.Errorf("network %+v, want an address", st.Network)
	}
	if st.Memory.SkerryRSSBytes == 0 {
		t.Errorf("memory %+v, want Skerry's RSS", st.Memory)
	}
}

// checkHealthNeedsToken: through the forwarded port (the network, to the
// guest) the status API answers only the token.
func checkHealthNeedsToken(t *testing.T, ctx context.Context, vm *qemu.VM) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+vm.HostAddr(healthPort)+"/v1/health", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /v1/health without the token: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /v1/health from the network without the token: %s %s, want 401", resp.Status, body)
	}
}

func debugPost(t *testing.T, ctx context.Context, vm *qemu.VM, action string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(healthRequest(ctx, http.MethodPost, "http://"+vm.HostAddr(healthPort)+"/v1/debug/"+action))
	if err != nil {
		t.Fatalf("POST /v1/debug/%s: %v", action, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /v1/debug/%s: %s %s, want 202", action, resp.Status, body)
	}
}

// imagePath finds a built image file, skipping when images were not built
// unless SKERRY_VMTEST=1 says they must be there.
func imagePath(t *testing.T, boardName, file string) string {
	t.Helper()
	if os.Getenv("SKERRY_VMTEST") != "1" {
		t.Skip("VM tests run with SKERRY_VMTEST=1 after `make images` (make test does both)")
	}
	p, err := qemu.OutPath(boardName, file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%v: build it with `make image BOARD=%s`", err, boardName)
	}
	return p
}

func copyDisk(t *testing.T, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "--sparse=always", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("copy disk: %v\n%s", err, out)
	}
}

// writeESPFile writes a JSON file onto the disk image's EFI system
// partition. A site config gets the bench's status API settings
// (qemu.BenchHealth), which the tests reach the box through.
func writeESPFile(t *testing.T, disk, path string, v any) {
	t.Helper()
	if cfg, ok := v.(*siteconfig.Config); ok {
		cfg.Health = qemu.BenchHealth(healthToken)
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := qemu.WriteESPFile(disk, path, data); err != nil {
		t.Fatal(err)
	}
}

// serviceLogs fetches a service's log ring through the status API.
func serviceLogs(vm *qemu.VM, name string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(healthRequest(ctx, http.MethodGet, "http://"+vm.HostAddr(healthPort)+"/v1/services/"+name+"/logs"))
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}
