package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skerry/skerry/services/api/towerapi"
)

// TestTowerSecrets sets a secret from a file and from stdin, lists it as
// a table and as JSON without its value, rotates the tower's secret key,
// and deletes it.
func TestTowerSecrets(t *testing.T) {
	towerCLI(t) // logs in
	mustRun(t, runTenants, "create", "acme")
	const value = "s3cr3t-value-never-printed"
	file := filepath.Join(t.TempDir(), "db")
	os.WriteFile(file, []byte(value), 0o600)
	out := mustRun(t, runTowerSecrets, "set", "-f", file, "-selector", "region=north", "acme/db")
	if !strings.Contains(out, "acme") || !strings.Contains(out, "region=north") {
		t.Errorf("set: got %q, want a table row of acme/db", out)
	}
	secretStdin = strings.NewReader(value + "-2")
	t.Cleanup(func() { secretStdin = os.Stdin })
	out += mustRun(t, runTowerSecrets, "set", "acme/db")
	secretStdin = strings.NewReader("")
	if _, err := runCmd(runTowerSecrets, "set", "acme/db"); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("set from an empty stdin: got %v, want a refusal", err)
	}
	table := mustRun(t, runTowerSecrets, "list", "-tenant", "acme")
	js := mustRun(t, runTowerSecrets, "list", "-tenant", "acme", "-o", "json")
	var l []towerapi.Secret
	if err := json.Unmarshal([]byte(js), &l); err != nil || len(l) != 1 || l[0].Version != 2 || l[0].Selector != nil {
		t.Errorf("list -o json: %s, %v; want db at version 2 for every site", js, err)
	}
	if !strings.Contains(table, "(every site)") {
		t.Errorf("list: %q, want db for every site", table)
	}
	for _, o := range []string{out, table, js} {
		if strings.Contains(o, value) {
			t.Errorf("the value is in the output: %q", o)
		}
	}
	js = mustRun(t, runTowerSecrets, "rotate-key", "-o", "json")
	var r towerapi.SecretKeyRotated
	if err := json.Unmarshal([]byte(js), &r); err != nil || r.Resealed != 1 || r.KeyID == "" {
		t.Errorf("rotate-key -o json: %s, %v; want db sealed again under a new key", js, err)
	}
	if out := mustRun(t, runTowerSecrets, "rotate-key"); !strings.Contains(out, "KEY ID") || strings.Contains(out, r.KeyID) {
		t.Errorf("rotate-key again: %q; want a table with another key ID", out)
	}
	mustRun(t, runTowerSecrets, "delete", "acme/db")
	if js := strings.TrimSpace(mustRun(t, runTowerSecrets, "list", "-tenant", "acme", "-o", "json")); js != "[]" && js != "null" {
		t.Errorf("list after delete: %s", js)
	}
}
