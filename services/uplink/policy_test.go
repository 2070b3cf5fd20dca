package uplink_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skerry/skerry/qemu/testenv"
	"github.com/skerry/skerry/services/hub"
	"github.com/skerry/skerry/services/streamlog/wire"
	"github.com/skerry/skerry/services/uplink/uplinktest"
)

// TestHubPolicy has the edge hub keep one topic and drop a field of
// another on the way up: the top never sees the kept topic nor the field,
// a value that is not JSON goes up withheld (offset only), and the rest
// of the topic arrives in order.
func TestHubPolicy(t *testing.T) {
	testenv.Integration(t)
	conf := filepath.Join(t.TempDir(), "hub.json")
	if err := os.WriteFile(conf, []byte(`{"version": 1, "topics": [
		{"match": "acme/secret", "action": "keep"},
		{"match": "acme/gps", "drop": ["lat", "lon"]}
	]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	c := newChain(t, []string{"-config", conf}, nil)
	ctx := context.Background()
	for _, n := range []string{"acme/secret", "acme/gps"} {
		if _, err := c.Log.CreateTopic(ctx, n, wire.TopicConfig{MaxBytes: 1 << 20}); err != nil {
			t.Fatal(err)
		}
	}
	values := []string{`{"lat": 48.1, "lon": 11.5, "speed": 3}`, `lat=48.1`, `{"speed": 4}`}
	for _, v := range values {
		for _, n := range []string{"acme/secret", "acme/gps"} {
			if _, err := c.Log.Append(ctx, n, "", 0, []wire.Record{{Value: []byte(v)}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := c.WaitCaughtUp(wctx, "acme/secret", "acme/gps"); err != nil {
		t.Fatal(err)
	}
	kept := func(name string) bool { return strings.HasSuffix(name, ".secret") }
	if err := uplinktest.WaitForwarded(wctx, kept, c.HubData(), c.mid.Data); err != nil {
		t.Fatal(err)
	}
	top, err := c.top.Log()
	if err != nil {
		t.Fatal(err)
	}
	infos, err := top.Topics(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range infos {
		if strings.HasSuffix(info.Name, ".secret") {
			t.Errorf("the kept topic reached the top as %s", info.Name)
		}
	}
	got := topRecords(t, c.top, "acme/gps")
	want := []string{`{"speed":3}`, ``, `{"speed":4}`}
	if len(got) != len(want) {
		t.Fatalf("acme/gps at the top: %d records, want %d", len(got), len(want))
	}
	for i, rec := range got {
		if rec.Offset != uint64(i) || string(rec.Value) != want[i] {
			t.Errorf("acme/gps record %d at the top: offset %d value %q, want offset %d value %q", i, rec.Offset, rec.Value, i, want[i])
		}
	}
	if len(got[1].Headers) != 1 || got[1].Headers[0].Key != hub.HeaderWithheld {
		t.Errorf("the non-JSON record went up with headers %v, want only %s", got[1].Headers, hub.HeaderWithheld)
	}
}
