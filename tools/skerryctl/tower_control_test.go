package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/tower"
	"github.com/skerry/skerry/services/tower/towertest"
)

// TestTowerSitesControl: "sites control" queues control records at the
// tower for a site named by name, from the argument or a file, and
// refuses what is not JSON before asking the tower.
func TestTowerSitesControl(t *testing.T) {
	tw, cli, try := towerCLI(t, tower.WithUplink("127.0.0.1:0"))
	cli("tenants", "create", "lab", "-allow-software-identity")
	var tok towerapi.EnrollTokenCreated
	json.Unmarshal([]byte(cli("tokens", "create", "-tenant", "lab", "-o", "json")), &tok)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := towertest.NewSoftwareAgent(t, tw.URL, tw.CAPEM).Enroll(ctx, tok.Token)
	if err != nil {
		t.Fatal(err)
	}
	out := cli("sites", "control", "softbox", `{"command": "reboot"}`)
	if !strings.Contains(out, "downlink/"+res.SiteID) || !strings.Contains(out, " 0\n") {
		t.Errorf("sites control:\n%s", out)
	}
	file := filepath.Join(t.TempDir(), "cmd.json")
	os.WriteFile(file, []byte(`"restart"`+"\n"), 0o644)
	var sent towerapi.ControlSent
	if err := json.Unmarshal([]byte(cli("sites", "control", "softbox", "-f", file, "-o", "json")), &sent); err != nil || sent.Offset != 1 || sent.Site != res.SiteID {
		t.Errorf("sites control -f: %+v, %v; want offset 1", sent, err)
	}
	if _, err := try("sites", "control", "softbox", "restart"); err == nil || !strings.Contains(err.Error(), "not one JSON value") {
		t.Errorf("sites control with bare text: %v; want not one JSON value", err)
	}
	if _, err := try("sites", "control", "softbox", `"x"`, "-f", file); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("sites control with both: %v", err)
	}
}
