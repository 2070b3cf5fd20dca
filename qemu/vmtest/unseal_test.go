package vmtest

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/skerry/skerry/board"
	"github.com/skerry/skerry/qemu"
	"github.com/skerry/skerry/services/api/towerapi"
)

// loaderEntry is systemd-boot's entry for the image on the ESP (see
// image.ESPFiles); its "options" line is the kernel command line.
const loaderEntry = "loader/entries/skerry.conf"

// checkRemoteUnseal runs on box A after its reboot: its vault key is
// escrowed at the tower; a boot with a changed kernel command line is
// refused by the vault, which names the PCR that moved, and the agent asks
// the tower; an operator approves with skerryctl; the key comes back, the
// vault reseals, and the next boot unseals by itself.
//
// The command line is changed the way it is on a real box: in the boot
// loader's entry on the ESP (written here from the host into the running
// VM's disk; the guest mounts the ESP read-only and the firmware reads it
// afresh at the reboot).
func checkRemoteUnseal(t *testing.T, ctx context.Context, vm *qemu.VM, b *board.Board, tw *hostTower, site string) {
	t.Helper()
	var sv towerapi.SiteVault
	for deadline := time.Now().Add(2 * time.Minute); !sv.Escrowed; time.Sleep(2 * time.Second) {
		if time.Now().After(deadline) {
			t.Fatalf("site %s never escrowed its vault key: %+v", site, sv)
		}
		tw.json(t, &sv, "vault", "show", "-o", "json", site)
	}

	disk := vmDisk(t, ctx, vm)
	entry, err := qemu.ReadESPFile(disk, loaderEntry)
	if err != nil {
		t.Fatal(err)
	}
	changed := regexp.MustCompile(`(?m)^options (.*)$`).ReplaceAll(entry, []byte("options $1 skerry.unseal-test=1"))
	if string(changed) == string(entry) {
		t.Fatalf("%s has no options line:\n%s", loaderEntry, entry)
	}
	if err := qemu.WriteESPFile(disk, loaderEntry, changed); err != nil {
		t.Fatal(err)
	}

	// The boot with the new command line: refused locally, PCR named.
	since := rebootBox(t, ctx, vm, b)
	sealed := waitConsoleMatch(t, vm, since, regexp.MustCompile(`init: vault: ERROR: vault sealed: .*PCR ([0-9, ]+):`), 3*time.Minute)
	asked := waitConsoleMatch(t, vm, since, regexp.MustCompile(`init: agent: vault sealed \(PCR ([0-9, ]+) differ .* asked the tower for a remote unseal; request (ur-[0-9a-f]+) is pending`), 3*time.Minute)
	t.Logf("box A: the changed command line moved PCR %s; the agent asked the tower (request %s)", sealed[1], asked[2])
	if asked[1] != sealed[1] {
		t.Errorf("the agent names PCR %s, the vault PCR %s", asked[1], sealed[1])
	}
	var reqs []towerapi.UnsealRequest
	tw.json(t, &reqs, "vault", "requests", "-state", "pending", "-o", "json")
	if len(reqs) != 1 || reqs[0].ID != asked[2] || reqs[0].Site != site || len(reqs[0].ChangedPCRs) == 0 {
		t.Fatalf("pending unseal requests at the tower: %+v, want %s of site %s", reqs, asked[2], site)
	}
	if s := waitVaultReported(t, tw, site, "sealed"); len(s.Vault.ChangedPCRs) == 0 {
		t.Errorf("the site view shows the vault sealed with no changed PCRs: %+v", s.Vault)
	}

	// An operator approves; the key comes back, the vault reseals.
	tw.run(t, "vault", "approve", asked[2])
	waitConsoleMatch(t, vm, since, regexp.MustCompile(`init: agent: vault unsealed by the tower`), 2*time.Minute)
	if log := serviceLogs(vm, "vault"); !strings.Contains(log, "resealed to the current PCRs") {
		t.Errorf("the vault did not say it resealed; its log:\n%s", log)
	}
	waitVaultReported(t, tw, site, "unsealed")

	// The next boot (same command line) needs nobody.
	since = rebootBox(t, ctx, vm, b)
	waitConsoleMatch(t, vm, since, regexp.MustCompile(`init: agent: site `+regexp.QuoteMeta(site)+`: identity from`), 3*time.Minute)
	checkVaultUnsealed(t, vm, false)
	if c := vm.Console()[since:]; strings.Contains(c, "remote unseal") {
		t.Errorf("the boot after the reseal asked for a remote unseal:\n%s", c)
	}
}

// rebootBox reboots the guest and waits for its ready line; it returns
// the console offset where the new boot starts.
func rebootBox(t *testing.T, ctx context.Context, vm *qemu.VM, b *board.Board) int {
	t.Helper()
	debugPost(t, ctx, vm, "reboot")
	expect(t, ctx, vm, regexp.MustCompile(`init: reboot now`), time.Minute)
	since := len(vm.Console())
	expect(t, ctx, vm, readyRE, bootTimeout(b))
	return since
}

// waitConsoleMatch is waitConsole returning the match.
func waitConsoleMatch(t *testing.T, vm *qemu.VM, since int, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(time.Second) {
		if m := re.FindStringSubmatch(vm.Console()[since:]); m != nil {
			return m
		}
	}
	t.Fatalf("console never showed %s", re)
	return nil
}

// waitVaultReported waits until the site view shows the vault in state.
func waitVaultReported(t *testing.T, tw *hostTower, id, state string) towerapi.Site {
	t.Helper()
	var s towerapi.Site
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		if s = site(t, tw, id); s.Vault != nil && s.Vault.State == state {
			return s
		}
	}
	t.Fatalf("site %s: the tower never showed its vault %s: %+v", id, state, s.Vault)
	return s
}

// vmDisk asks QEMU which file backs the VM's disk.
func vmDisk(t *testing.T, ctx context.Context, vm *qemu.VM) string {
	t.Helper()
	var blocks []struct {
		Device   string `json:"device"`
		Inserted *struct {
			File string `json:"file"`
		} `json:"inserted"`
	}
	if err := vm.QMP(ctx, "query-block", nil, &blocks); err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		if b.Device == "disk0" && b.Inserted != nil {
			return b.Inserted.File
		}
	}
	t.Fatalf("QEMU shows no disk0: %+v", blocks)
	return ""
}
