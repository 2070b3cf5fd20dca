package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/tower"
	"github.com/skerry/skerry/services/tower/towertest"
)

// towerCLI logs in to a fresh in-process tower and returns a function that
// runs skerryctl with args and returns its stdout.
func towerCLI(t *testing.T, opts ...tower.Option) (*towertest.Tower, func(args ...string) string, func(args ...string) (string, error)) {
	t.Helper()
	tw := towertest.Start(t, opts...)
	dir := t.TempDir()
	t.Setenv("SKERRY_TOWER_CONFIG", filepath.Join(dir, "tower.json"))
	caFile := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caFile, tw.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	try := func(args ...string) (string, error) {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), &stdout, &stderr, append([]string{"tower"}, args...))
		return stdout.String(), err
	}
	cli := func(args ...string) string {
		t.Helper()
		out, err := try(args...)
		if err != nil {
			t.Fatalf("skerryctl %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	out := cli("login", "--tower", tw.URL, "--token", tw.Token, "--ca", caFile)
	if !strings.Contains(out, "logged in to "+tw.URL+" as operator") {
		t.Errorf("login: got %q", out)
	}
	if fi, err := os.Stat(filepath.Join(dir, "tower.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("saved config: got %v, %v; want mode 0600", fi, err)
	}
	return tw, cli, try
}

func TestTowerLoginRefusesBadToken(t *testing.T) {
	tw := towertest.Start(t)
	t.Setenv("SKERRY_TOWER_CONFIG", filepath.Join(t.TempDir(), "tower.json"))
	ca := filepath.Join(t.TempDir(), "ca.crt")
	os.WriteFile(ca, tw.CAPEM, 0o644)
	var out bytes.Buffer
	err := run(context.Background(), &out, &out, []string{"tower", "login", "--tower", tw.URL, "--token", "skop_wrong", "--ca", ca})
	if err == nil || !strings.Contains(err.Error(), "unauthenticated") {
		t.Errorf("login with a wrong token: got %v, want unauthenticated", err)
	}
	if err := run(context.Background(), &out, &out, []string{"tower", "tenants", "list"}); err == nil || !strings.Contains(err.Error(), "not logged in") {
		t.Errorf("tenants list without login: got %v, want not logged in", err)
	}
}

func TestTowerTenantsTokensClaims(t *testing.T) {
	_, cli, try := towerCLI(t)
	cli("tenants", "create", "-name", "Acme Corp", "acme")
	cli("tenants", "create", "lab", "-allow-software-identity")
	out := cli("tenants", "list")
	for _, want := range []string{"ID", "acme", "Acme Corp", "refused", "lab", "allowed"} {
		if !strings.Contains(out, want) {
			t.Errorf("tenants list: %q missing from\n%s", want, out)
		}
	}
	var tenants []towerapi.Tenant
	if err := json.Unmarshal([]byte(cli("tenants", "list", "-o", "json")), &tenants); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tn := range tenants {
		ids = append(ids, tn.ID)
	}
	if diff := cmp.Diff([]string{"acme", "lab"}, ids); diff != "" {
		t.Errorf("tenants list -o json (-want +got):\n%s", diff)
	}

	var tok towerapi.EnrollTokenCreated
	if err := json.Unmarshal([]byte(cli("tokens", "create", "-tenant", "acme", "-max-uses", "3", "-label", "env=prod", "-o", "json")), &tok); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.Token, "sken_") || tok.MaxUses != 3 || tok.Labels["env"] != "prod" || tok.State != "valid" {
		t.Errorf("tokens create: got %+v", tok)
	}
	out = cli("tokens", "create", "-tenant", "acme")
	if !strings.Contains(out, "shown once") || !strings.Contains(out, "sken_") {
		t.Errorf("tokens create table output lacks the token:\n%s", out)
	}
	cli("tokens", "revoke", tok.ID)
	out = cli("tokens", "list", "-tenant", "acme")
	if !strings.Contains(out, tok.ID) || !strings.Contains(out, "revoked") {
		t.Errorf("tokens list after revoke:\n%s", out)
	}

	ek := strings.Repeat("ab", 32)
	cli("claims", "create", "-tenant", "acme", "-name", "store-1", "-ek", ek, "-label", "zone=a")
	cli("claims", "create", "-tenant", "acme", "-name", "store-2", "-serial", "SN/42")
	out = cli("claims", "list")
	for _, want := range []string{"ek:" + ek, "store-1", "zone=a", "serial:SN/42"} {
		if !strings.Contains(out, want) {
			t.Errorf("claims list: %q missing from\n%s", want, out)
		}
	}
	cli("claims", "delete", "serial:SN/42")
	if out = cli("claims", "list"); strings.Contains(out, "SN/42") {
		t.Errorf("claims list after delete still has it:\n%s", out)
	}

	// Refusals come back as the tower's message.
	_, err := try("claims", "create", "-tenant", "nope", "-name", "x", "-serial", "1")
	if err == nil || !strings.Contains(err.Error(), `tenant "nope" not found`) {
		t.Errorf("claim in unknown tenant: got %v", err)
	}
	if _, err := try("tenants", "list", "-o", "yaml"); err == nil {
		t.Error("-o yaml accepted")
	}
}

func TestTowerSites(t *testing.T) {
	tw, cli, _ := towerCLI(t)
	cli("tenants", "create", "lab", "-allow-software-identity")
	var tok towerapi.EnrollTokenCreated
	json.Unmarshal([]byte(cli("tokens", "create", "-tenant", "lab", "-o", "json")), &tok)
	sw := towertest.NewSoftwareAgent(t, tw.URL, tw.CAPEM)
	res, err := sw.Enroll(context.Background(), tok.Token)
	if err != nil {
		t.Fatal(err)
	}
	out := cli("sites", "list")
	if !strings.Contains(out, res.SiteID) || !strings.Contains(out, "softbox (software identity)") || !strings.Contains(out, "never-reported") {
		t.Errorf("sites list:\n%s", out)
	}
	out = cli("sites", "show", "softbox")
	if !strings.Contains(out, "SOFTWARE: no TPM") {
		t.Errorf("sites show does not mark the software identity:\n%s", out)
	}
	var site towerapi.Site
	if err := json.Unmarshal([]byte(cli("sites", "show", res.SiteID, "-o", "json")), &site); err != nil {
		t.Fatal(err)
	}
	if !site.SoftwareIdentity || site.Tenant != "lab" {
		t.Errorf("sites show -o json: got %+v", site)
	}
	cli("sites", "revoke", "softbox")
	if out = cli("sites", "show", "softbox"); !strings.Contains(out, "revoked") {
		t.Errorf("after revoke:\n%s", out)
	}
}

func TestTowerSitesPendingApproveReject(t *testing.T) {
	towertest.RequireIntegration(t)
	tw, cli, _ := towerCLI(t)
	cli("tenants", "create", "acme")
	ctx := context.Background()
	a, b := tw.NewAgent(t), tw.NewAgent(t)
	for _, ag := range []*towertest.Agent{a, b} {
		if res, err := ag.Enroll(ctx, ""); err != nil || res.Status != "pending" {
			t.Fatalf("enroll: got %+v, %v; want pending", res, err)
		}
	}
	out := cli("sites", "pending")
	if !strings.Contains(out, a.EKHash()) || !strings.Contains(out, b.EKHash()) {
		t.Errorf("sites pending:\n%s", out)
	}
	cli("sites", "approve", a.EKHash(), "-tenant", "acme", "-name", "shop-7", "-label", "city=x")
	cli("sites", "reject", b.EKHash())
	res, err := a.Enroll(ctx, "")
	if err != nil || res.Status != "registered" {
		t.Fatalf("after approval: got %+v, %v", res, err)
	}
	if res, err := b.Enroll(ctx, ""); err != nil || res.Status != "rejected" {
		t.Fatalf("after rejection: got %+v, %v", res, err)
	}
	out = cli("sites", "list", "-tenant", "acme")
	if !strings.Contains(out, "shop-7") || !strings.Contains(out, "city=x") {
		t.Errorf("sites list:\n%s", out)
	}
	cli("sites", "reenroll", "shop-7")
	if out = cli("sites", "show", "shop-7"); !strings.Contains(out, "yes, once") {
		t.Errorf("after reenroll:\n%s", out)
	}
}
