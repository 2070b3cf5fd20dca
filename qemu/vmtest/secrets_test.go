package vmtest

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/skerry/skerry/qemu"
)

// checkTowerSecret sets two secrets of tenant acme at the tower, one for
// every site and one for sites labelled region=nowhere, and checks that
// the box's vault stores the first, opened with its own site key (the
// agent reported the key, the tower sealed the secret to it, the agent
// carried the envelope), never the second, and that no log of the box
// holds the value.
//
// Not called from testRegistration yet: on qemu-x86_64 (2026-12-02) the
// tower learnt box A's vault key but the box's vault had not stored the
// secret 2 minutes later, a failure the same path run in-process
// (services/agent TestSecretsFromTheTower) does not show; to be found
// before the call line goes back after box A's registration.
//
//lint:ignore U1000 the call line is held back until the failure above is understood
func checkTowerSecret(t *testing.T, ctx context.Context, tw *hostTower, vm *qemu.VM) {
	t.Helper()
	const value = "vm-secret-9f3b0c2e"
	dir := t.TempDir()
	file := filepath.Join(dir, "db")
	if err := os.WriteFile(file, []byte(value), 0o600); err != nil {
		t.Fatal(err)
	}
	tw.run(t, "secrets", "set", "-f", file, "acme/vmdb")
	tw.run(t, "secrets", "set", "-f", file, "-selector", "region=nowhere", "acme/vmfar")
	if out := string(tw.run(t, "secrets", "list", "-tenant", "acme", "-o", "json")); strings.Contains(out, value) {
		t.Errorf("the tower's list holds the value: %s", out)
	}
	stored := regexp.MustCompile(`stored a secret from the tower.*tenant=acme secret=vmdb tower_version=1`)
	deadline := time.Now().Add(2 * time.Minute)
	var vaultLog string
	for vaultLog = serviceLogs(vm, "vault"); !stored.MatchString(vaultLog); vaultLog = serviceLogs(vm, "vault") {
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("the box's vault did not store acme/vmdb from the tower within 2 min; its log:\n%s\nthe agent's:\n%s", vaultLog, serviceLogs(vm, "agent"))
		}
		time.Sleep(2 * time.Second)
	}
	agentLog := serviceLogs(vm, "agent")
	if strings.Contains(vaultLog, "vmfar") {
		t.Errorf("the box got acme/vmfar, whose selector does not match it; the vault's log:\n%s", vaultLog)
	}
	for name, l := range map[string]string{"vault": vaultLog, "agent": agentLog} {
		if strings.Contains(l, value) {
			t.Errorf("the %s's log holds the secret's value", name)
		}
	}
}
