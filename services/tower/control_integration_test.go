package tower_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/skerry/skerry/qemu/testenv"
	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/streamlog/client"
	"github.com/skerry/skerry/services/streamlog/wire"
	"github.com/skerry/skerry/services/tower/towertest"
)

// TestControlToSite: control records POSTed to the tower reach the site's
// system/downlink through the tower's embedded hub and a real skerry
// uplink, in order, each exactly once (also across an uplink restart);
// a tenant reader may not send, another tenant's admin finds no site,
// and text with control characters or a body that is no JSON is refused.
func TestControlToSite(t *testing.T) {
	testenv.Integration(t)
	s := startUplinkSite(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	token := func(role, tenant string) *towerapi.Client {
		var tok towerapi.OperatorTokenCreated
		if err := s.op.Do(ctx, "POST", "/v1/operator-tokens", towerapi.OperatorTokenCreate{Name: role + "-" + tenant, Role: role, Tenant: tenant}, &tok); err != nil {
			t.Fatal(err)
		}
		return s.tw.Client(t, tok.Token)
	}
	admin, reader, globex := token("tenant-admin", "acme"), token("tenant-reader", "acme"), token("tenant-admin", "globex")
	path := "/v1/sites/" + s.id + "/control"
	send := func(c *towerapi.Client, body string, wantOffset uint64) {
		t.Helper()
		var sent towerapi.ControlSent
		if err := c.Do(ctx, "POST", path, json.RawMessage(body), &sent); err != nil {
			t.Fatalf("POST %s %s: %v", path, body, err)
		}
		if sent.Offset != wantOffset || sent.Site != s.id || sent.Topic != uplinkapi.DownlinkTopic(s.id) {
			t.Errorf("POST %s %s: got %+v, want offset %d of %s", path, body, sent, wantOffset, uplinkapi.DownlinkTopic(s.id))
		}
	}
	refused := func(who string, c *towerapi.Client, body, code string) {
		t.Helper()
		var e *enrollapi.Error
		if err := c.Do(ctx, "POST", path, json.RawMessage(body), nil); !errors.As(err, &e) || e.Code != code {
			t.Errorf("%s: POST %s %q: %v; want %s", who, path, body, err, code)
		}
	}
	send(s.op, `{"command": "reboot", "after": 5}`, 0)
	send(admin, `"restart app web"`, 1)
	refused("acme reader", reader, `"x"`, "forbidden")
	refused("globex admin", globex, `"x"`, "not_found")
	refused("escape sequence", admin, `"\u001b[31mred"`, "bad_request")
	want := []string{`{"command":"reboot","after":5}`, `"restart app web"`}
	checkDownlink(ctx, t, s, want)

	s.rig.KillUplink()
	send(admin, `[1, 2, 3]`, 2)
	if err := s.rig.StartUplink(); err != nil {
		t.Fatal(err)
	}
	checkDownlink(ctx, t, s, append(want, `[1,2,3]`))
}

// checkDownlink waits until the site's system/downlink holds as many
// records as want, then checks them (and that no more come in a moment).
func checkDownlink(ctx context.Context, t *testing.T, s *uplinkSite, want []string) {
	t.Helper()
	var recs []wire.Record
	for {
		recs, _ = s.rig.Log.Read(ctx, uplinkapi.SiteDownlinkTopic, client.From{Offset: 0}, 100)
		if len(recs) >= len(want) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("site's %s holds %d records, want %d", uplinkapi.SiteDownlinkTopic, len(recs), len(want))
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // a duplicate would be on its way
	recs, _ = s.rig.Log.Read(ctx, uplinkapi.SiteDownlinkTopic, client.From{Offset: 0}, 100)
	if len(recs) != len(want) {
		t.Errorf("site's %s holds %d records, want %d (each exactly once)", uplinkapi.SiteDownlinkTopic, len(recs), len(want))
	}
	for i := range min(len(recs), len(want)) {
		if string(recs[i].Value) != want[i] {
			t.Errorf("site's %s record %d: %s, want %s", uplinkapi.SiteDownlinkTopic, i, recs[i].Value, want[i])
		}
	}
}

// TestControlWithoutHub: a tower without its embedded hub answers 503
// unavailable, saying how to turn it on.
func TestControlWithoutHub(t *testing.T) {
	tw := towertest.Start(t)
	var e *enrollapi.Error
	err := tw.Client(t, "").Do(context.Background(), "POST", "/v1/sites/site-0123456789abcdef/control", json.RawMessage(`{"a":1}`), nil)
	if !errors.As(err, &e) || e.Code != "unavailable" {
		t.Errorf("POST control without the embedded hub: %v; want unavailable (503)", err)
	}
}
