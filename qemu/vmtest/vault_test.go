package vmtest

import (
	"strings"
	"testing"

	"github.com/skerry/skerry/qemu"
)

// checkVaultUnsealed checks, from the vault's log, that it unsealed its
// master key on this boot by itself (on a first boot, after sealing a new
// one): the PCR policy held across the firmware's and boot loader's
// measurements.
func checkVaultUnsealed(t *testing.T, vm *qemu.VM, firstBoot bool) {
	t.Helper()
	log := serviceLogs(vm, "vault")
	if !strings.Contains(log, "vault unsealed") || strings.Contains(log, "vault sealed") {
		t.Errorf("the vault did not unseal by itself; its log:\n%s", log)
	}
	if sealed := strings.Contains(log, "sealed a new master key"); sealed != firstBoot {
		t.Errorf("sealed a new master key: %v, want %v (first boot %v); its log:\n%s", sealed, firstBoot, firstBoot, log)
	}
}
