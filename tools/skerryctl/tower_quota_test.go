package main

import (
	"strings"
	"testing"
)

// TestTowerTenantQuota: "tenants update -quota-*" sets a tenant's quota
// at the tower (shown in the table), a bad one is refused naming the
// field, -no-quota removes it.
func TestTowerTenantQuota(t *testing.T) {
	_, cli, try := towerCLI(t)
	cli("tenants", "create", "acme")
	if out := cli("tenants", "update", "-quota-memory", "512Mi", "-quota-pids", "256", "acme"); !strings.Contains(out, "memory 512Mi, pids 256") {
		t.Errorf("update with a quota:\n%s", out)
	}
	if _, err := try("tenants", "update", "-quota-memory", "lots", "acme"); err == nil || !strings.Contains(err.Error(), "memory") {
		t.Errorf("a bad quota: %v, want a refusal naming memory", err)
	}
	if _, err := try("tenants", "update", "-no-quota", "-quota-pids", "5", "acme"); err == nil || !strings.Contains(err.Error(), "-no-quota") {
		t.Errorf("-no-quota with a quota: %v, want a refusal", err)
	}
	if out := cli("tenants", "list"); !strings.Contains(out, "memory 512Mi, pids 256") {
		t.Errorf("the refused updates changed the quota:\n%s", out)
	}
	if out := cli("tenants", "update", "-no-quota", "acme"); !strings.Contains(out, "sites' default") {
		t.Errorf("update -no-quota:\n%s", out)
	}
}
