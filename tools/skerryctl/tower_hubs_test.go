package main

import (
	"crypto/tls"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skerry/skerry/services/api/towerapi"
)

// TestTowerHubs: "hubs add" makes a key here, has the tower certify it
// and writes the pair that loads as a TLS identity; an existing key file
// is never overwritten (and nothing is asked of the tower then); "hubs
// revoke" and "hubs list" show the revocation.
func TestTowerHubs(t *testing.T) {
	_, cli, try := towerCLI(t)
	dir := t.TempDir()
	key, cert, ca := filepath.Join(dir, "hub.key"), filepath.Join(dir, "hub.crt"), filepath.Join(dir, "ca.crt")
	out := cli("hubs", "add", "region1", "-host", "hub.example", "-key-out", key, "-cert-out", cert, "-ca-out", ca)
	if !strings.Contains(out, "region1") || !strings.Contains(out, "hub.example") {
		t.Errorf("hubs add:\n%s", out)
	}
	if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
		t.Errorf("the written certificate and key: %v", err)
	}
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode: %v, %v; want 0600", fi.Mode(), err)
	}
	if b, err := os.ReadFile(ca); err != nil || !strings.Contains(string(b), "BEGIN CERTIFICATE") {
		t.Errorf("-ca-out: %q, %v", b, err)
	}
	before, _ := os.ReadFile(key)
	if _, err := try("hubs", "add", "region2", "-key-out", key, "-cert-out", filepath.Join(dir, "2.crt")); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("hubs add over an existing key: %v; want it refused", err)
	}
	if after, _ := os.ReadFile(key); string(after) != string(before) {
		t.Error("hubs add overwrote an existing key")
	}
	if _, err := try("hubs", "add", "bad/id", "-key-out", filepath.Join(dir, "3.key"), "-cert-out", filepath.Join(dir, "3.crt")); err == nil {
		t.Error("hubs add bad/id: want the tower's refusal")
	} else if _, serr := os.Stat(filepath.Join(dir, "3.key")); serr == nil {
		t.Error("a refused hubs add left its key file")
	}
	cli("hubs", "revoke", "region1")
	var hubs []towerapi.Hub
	if err := json.Unmarshal([]byte(cli("hubs", "list", "-o", "json")), &hubs); err != nil || len(hubs) != 1 || hubs[0].ID != "region1" || !hubs[0].Revoked {
		t.Errorf("hubs list after revoke: %+v, %v; want region1 alone, revoked", hubs, err)
	}
}
