package uplink_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/skerry/skerry/qemu/testenv"
	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/streamlog/wire"
	"github.com/skerry/skerry/services/uplink/uplinktest"
)

// TestDownlink writes control records into the hub's downlink topic for
// the site while the uplink is down and 100,000 records wait on the site,
// kills the hub (SIGKILL) and starts everything again: the control records
// reach the site's system/downlink before the backlog went up, and after
// another uplink kill, the hub's cursor set back to 0 and more control
// records, the site holds each
// exactly once, in order, with the hub's offsets; the hub's cursor is at
// the end.
func TestDownlink(t *testing.T) {
	testenv.Integration(t)
	r := newRig(t, nil)
	ctx := context.Background()
	hub, err := uplinktest.HubLog(r.HubData())
	if err != nil {
		t.Fatal(err)
	}
	down := uplinktest.HubDownlink()
	if _, err := hub.CreateTopic(ctx, down, wire.TopicConfig{}); err != nil && !errors.Is(err, wire.ErrTopicExists) {
		t.Fatal(err)
	}
	r.KillUplink()
	backlog := make([]wire.Record, 4000)
	for i := range backlog {
		backlog[i].Value = []byte("bulk record of the backlog")
	}
	for range 25 {
		if _, err := r.Log.Append(ctx, "acme/telemetry", "", 0, backlog); err != nil {
			t.Fatal(err)
		}
	}
	control := func(from, n int) {
		t.Helper()
		var recs []wire.Record
		for i := from; i < from+n; i++ {
			recs = append(recs, wire.Record{Value: fmt.Appendf(nil, `{"command": %d}`, i)})
		}
		if _, err := hub.Append(ctx, down, "", 0, recs); err != nil {
			t.Fatal(err)
		}
	}
	control(0, 3)
	r.KillHub()
	if err := r.StartHub(); err != nil {
		t.Fatal(err)
	}
	if err := r.StartUplink(uplinkArgs...); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	waitDownlink(t, r, 3)
	info, _ := r.Log.Topic(ctx, "acme/telemetry")
	cur, _ := r.Log.Cursor(ctx, "acme/telemetry", "uplink")
	t.Logf("control records at the site %v after the uplink started, with %d of %d backlog records up", time.Since(started), cur.Offset, info.Next)
	if cur.Offset >= info.Next {
		t.Errorf("the control records arrived after the whole backlog (%d records)", info.Next)
	}
	r.KillUplink()
	// As if the hub had crashed between the site's answer and its cursor
	// commit: it sends everything again, the site must drop what it has.
	if err := hub.CommitCursor(ctx, down, uplinkapi.DownlinkConsumer, 0); err != nil {
		t.Fatal(err)
	}
	control(3, 2)
	if err := r.StartUplink(uplinkArgs...); err != nil {
		t.Fatal(err)
	}
	got := waitDownlink(t, r, 5)
	for i, rec := range got {
		off, _, ok := uplinkapi.SiteOrigin(rec.Headers)
		if !ok || off != uint64(i) || string(rec.Value) != fmt.Sprintf(`{"command": %d}`, i) {
			t.Errorf("site downlink record %d: hub offset %d (%v), value %s; want offset %d, command %d", i, off, ok, rec.Value, i, i)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := hub.Cursor(ctx, down, uplinkapi.DownlinkConsumer)
		if err == nil && c.Offset == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hub downlink cursor: %+v, %v; want 5", c, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitDownlink waits until the site's downlink topic holds at least n
// records, gives duplicates a moment to show, and returns them all.
func waitDownlink(t *testing.T, r *uplinktest.Rig, n int) []wire.Record {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		recs, _ := r.Log.Read(context.Background(), uplinkapi.SiteDownlinkTopic, clientFrom(0), 100)
		if len(recs) >= n {
			if len(recs) > n {
				t.Errorf("site downlink holds %d records, want %d", len(recs), n)
			}
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("site downlink holds %d records after 30 s, want %d", len(recs), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
