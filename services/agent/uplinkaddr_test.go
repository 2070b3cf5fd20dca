package agent

import (
	"net"
	"testing"
	"time"

	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/tower"
	"github.com/skerry/skerry/services/tower/towertest"
)

// TestUplinkAddress: a tower that receives uplinks names its broker in
// the enrollment result, and the agent keeps it in identity.json; a
// stored address the tower no longer names is replaced from the next
// status report's answer.
func TestUplinkAddress(t *testing.T) {
	real := towertest.Start(t, tower.WithReportInterval(time.Second), tower.WithUplink("127.0.0.1:0"))
	tw := &realTower{url: real.URL, ca: real.CAPEM, api: real.Client(t, "")}
	tw.do(t, "POST", "/v1/tenants", towerapi.Tenant{ID: "acme", Name: "Acme", AllowSoftwareIdentity: true}, nil)
	var tok towerapi.EnrollTokenCreated
	tw.do(t, "POST", "/v1/enrollment-tokens", towerapi.EnrollTokenCreate{Tenant: "acme", MaxUses: 5}, &tok)
	home := t.TempDir()
	sw := newSWTPM(t, false)
	a := startAgent(t, tw.config(tok.Token), WithHome(home), WithTPM(sw.Path()))
	tw.onlineSite(t, a)
	a.stop(t)
	// The site reached the tower by 127.0.0.1: it is told that host with
	// the broker's port (known once the tower serves, as it does now).
	_, port, _ := net.SplitHostPort(real.UplinkAddr())
	want := net.JoinHostPort("127.0.0.1", port)
	id, err := LoadIdentity(home)
	if err != nil {
		t.Fatal(err)
	}
	if id.Uplink != want {
		t.Fatalf("identity uplink after enrollment: got %q, want %q", id.Uplink, want)
	}

	id.Uplink = "old-parent.invalid:8883"
	if err := id.Save(home); err != nil {
		t.Fatal(err)
	}
	sw = reboot(t, sw)
	b := startAgent(t, tw.config(tok.Token), WithHome(home), WithTPM(sw.Path()))
	b.wait(t, "the report answer's uplink address in identity.json", func() bool {
		id, err := LoadIdentity(home)
		return err == nil && id.Uplink == want
	})
}
