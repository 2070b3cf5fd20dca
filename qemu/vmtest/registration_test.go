package vmtest

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/skerry/skerry/board"
	"github.com/skerry/skerry/image"
	"github.com/skerry/skerry/qemu"
	"github.com/skerry/skerry/qemu/swtpm"
	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/siteconfig"
)

var registeredRE = regexp.MustCompile(`init: agent: registered as site (\S+) with`)

// TestRegistration runs a tower on the host and, for each arch, boots two
// site images, each with its own swtpm: box A carries an enrollment token
// and registers with no human action, then reboots and is the same site
// without enrolling again; box B has no token and no claim, waits in the
// pending queue until approved with skerryctl, and becomes a second site.
func TestRegistration(t *testing.T) {
	disks := map[string]string{}
	for _, name := range []string{"qemu-x86_64", "qemu-arm64"} {
		disks[name] = imagePath(t, name, image.DiskFile)
	}
	// The boxes' TPMs are manufactured by one local CA, which the tower
	// trusts as a TPM maker: they are hardware identities. Manufacturing
	// a first TPM creates the CA.
	caDir := filepath.Join(t.TempDir(), "tpm-maker")
	if err := swtpm.Manufacture(context.Background(), filepath.Join(t.TempDir(), "state"), caDir, t.TempDir(), "vmtest"); err != nil {
		t.Fatal(err)
	}
	var roots []string
	for _, f := range swtpm.CACerts(caDir) {
		roots = append(roots, "-ek-roots", f)
	}
	tw := startTower(t, roots...)
	tw.run(t, "tenants", "create", "acme")
	for _, name := range []string{"qemu-x86_64", "qemu-arm64"} {
		t.Run(name, func(t *testing.T) {
			b, err := board.Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			// A token per arch, whose label lets checkApps deploy to this
			// arch's box A only (the tower holds both arches' boxes).
			var tok towerapi.EnrollTokenCreated
			tw.json(t, &tok, "tokens", "create", "-tenant", "acme", "-max-uses", "10", "-label", "arch="+b.Arch, "-description", "vmtest "+b.Arch, "-o", "json")
			testRegistration(t, b, disks[name], tw, tok, caDir)
		})
	}
}

func testRegistration(t *testing.T, b *board.Board, builtDisk string, tw *hostTower, tok towerapi.EnrollTokenCreated, caDir string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	hr := startRegistry(t, b.Arch) // checkApps pulls from it; box A trusts its CA
	hh := startHostHub(t, tw, b.Arch)
	boot := func(box, token string) *qemu.VM {
		disk := filepath.Join(t.TempDir(), "disk.img")
		copyDisk(t, builtDisk, disk)
		cfg := siteconfig.Default()
		cfg.Hostname = fmt.Sprintf("%s-%s", box, b.Arch)
		cfg.Tower = siteconfig.Tower{URL: tw.GuestURL, CA: tw.CA, EnrollmentToken: token}
		cfg.Debug.Control = true
		cfg.Workload.RegistryCAs = []string{hr.CA}
		if box == "b" {
			cfg.Uplink.Parent = hh.GuestAddr
		}
		writeESPFile(t, disk, "skerry/site.json", cfg)
		vm, err := qemu.Start(ctx, qemu.Config{Board: b, Disk: disk, DiskWrite: true, TPM: &qemu.TPM{CADir: caDir}, Forwards: []int{healthPort, appHostPort}},
			qemu.WithConsoleLog(t.Logf, box+"-"+b.Arch+"| "))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { vm.Close() })
		return vm
	}
	a, bb := boot("a", tok.Token), boot("b", "")

	// Box A: token mode, registered with no human action. The agent
	// registers while containerd starts, so its line may come before or
	// after the ready line: expect each from the start of the boot.
	mark := a.Mark()
	ready := expect(t, ctx, a, readyRE, bootTimeout(b))
	a.Rewind(mark)
	reg := expect(t, ctx, a, registeredRE, 3*time.Minute)
	siteA := reg.Groups[1]
	t.Logf("box A: registered as %s, %+.1fs from its ready line", siteA, reg.At.Sub(ready.At).Seconds())
	first := waitOnline(t, tw, siteA)
	if first.Tenant != "acme" || first.SoftwareIdentity || first.EKHash == "" || first.EnrolledVia == "" {
		t.Errorf("site A %+v: want tenant acme, a TPM identity with its EK hash, and how it enrolled", first)
	}
	checkUplinkAtTower(t, ctx, a, tw, siteA)
	checkApps(t, tw, siteA, b.Arch, hr)
	checkHostPort(t, a)

	// Box B: no token, no claim: it waits in the pending queue.
	mark = bb.Mark()
	expect(t, ctx, bb, readyRE, bootTimeout(b))
	bb.Rewind(mark)
	expect(t, ctx, bb, regexp.MustCompile(`init: agent: .*pending operator approval`), 3*time.Minute)
	ek := pendingEK(t, tw, "b-"+b.Arch)
	if ek == first.EKHash {
		t.Fatalf("box B's EK %s is box A's: the two swtpms must differ", ek)
	}
	tw.run(t, "sites", "approve", "-tenant", "acme", "-name", "b-"+b.Arch, ek)
	reg = expect(t, ctx, bb, registeredRE, 3*time.Minute)
	siteB := reg.Groups[1]
	if siteB == siteA {
		t.Fatalf("box B registered as box A's site %s", siteA)
	}
	if s := waitOnline(t, tw, siteB); s.Name != "b-"+b.Arch || s.EKHash != ek {
		t.Errorf("site B %+v: want name b-%s and EK %s", s, b.Arch, ek)
	}
	checkUplinkThroughHub(t, bb, tw, siteB, hh)

	// Box A reboots: same site, no new enrollment.
	usesBefore := tokenUses(t, tw, tok.ID)
	debugPost(t, ctx, a, "reboot")
	expect(t, ctx, a, regexp.MustCompile(`init: reboot now`), time.Minute)
	since := len(a.Console())
	expect(t, ctx, a, readyRE, bootTimeout(b))
	// The agent loads its identity around the ready line, before or after.
	waitConsole(t, a, since, regexp.MustCompile(`init: agent: site `+regexp.QuoteMeta(siteA)+`: identity from`), 3*time.Minute)
	again := waitReported(t, tw, siteA, first.BootID)
	if again.EnrolledAt != first.EnrolledAt || again.CertificateSerial != first.CertificateSerial {
		t.Errorf("after reboot site A enrolled %v cert %s, want unchanged %v cert %s", again.EnrolledAt, again.CertificateSerial, first.EnrolledAt, first.CertificateSerial)
	}
	if u := tokenUses(t, tw, tok.ID); u != usesBefore {
		t.Errorf("token uses went from %d to %d across a reboot: the box enrolled again", usesBefore, u)
	}
	if strings.Contains(a.Console()[since:], "enrolling with") {
		t.Error("box A enrolled again after its reboot")
	}
	checkRemoteUnseal(t, ctx, a, b, tw, siteA)
}

// waitConsole waits until the console after byte offset since matches re,
// whatever Expect's cursor has passed.
func waitConsole(t *testing.T, vm *qemu.VM, since int, re *regexp.Regexp, timeout time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(time.Second) {
		if re.MatchString(vm.Console()[since:]) {
			return
		}
	}
	t.Fatalf("console never showed %s after the reboot", re)
}

// site reads one site through skerryctl.
func site(t *testing.T, tw *hostTower, id string) towerapi.Site {
	t.Helper()
	var s towerapi.Site
	tw.json(t, &s, "sites", "show", "-o", "json", id)
	return s
}

// waitOnline waits until the tower shows the site online.
func waitOnline(t *testing.T, tw *hostTower, id string) towerapi.Site {
	t.Helper()
	var s towerapi.Site
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		if s = site(t, tw, id); s.Online {
			return s
		}
	}
	t.Fatalf("site %s never shown online: %+v", id, s)
	return s
}

// waitReported waits for a status report from a boot other than oldBoot.
func waitReported(t *testing.T, tw *hostTower, id, oldBoot string) towerapi.Site {
	t.Helper()
	var s towerapi.Site
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		if s = site(t, tw, id); s.Online && s.BootID != "" && s.BootID != oldBoot {
			return s
		}
	}
	t.Fatalf("site %s never reported from its new boot (boot id still %q): %+v", id, oldBoot, s)
	return s
}

// pendingEK finds the pending box with the given hostname.
func pendingEK(t *testing.T, tw *hostTower, hostname string) string {
	t.Helper()
	var ps []towerapi.Pending
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		tw.json(t, &ps, "sites", "pending", "-o", "json")
		for _, p := range ps {
			if p.Hostname == hostname && p.State == "pending" {
				return p.EKHash
			}
		}
	}
	t.Fatalf("no pending box named %s in %+v", hostname, ps)
	return ""
}

// tokenUses reads how many boxes enrolled with the token.
func tokenUses(t *testing.T, tw *hostTower, id string) int {
	t.Helper()
	var toks []towerapi.EnrollToken
	tw.json(t, &toks, "tokens", "list", "-o", "json")
	for _, tk := range toks {
		if tk.ID == id {
			return tk.Uses
		}
	}
	t.Fatalf("token %s not listed: %+v", id, toks)
	return 0
}
