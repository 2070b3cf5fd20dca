package uplink_test

import (
	"context"
	"testing"
	"time"

	"github.com/skerry/skerry/qemu/testenv"
	"github.com/skerry/skerry/services/streamlog/wire"
	"github.com/skerry/skerry/services/uplink/uplinktest"
)

// TestControlBeforeBacklog builds a backlog on a control topic and a bulk
// one while the uplink is down, starts it, and checks that the control
// topic (priority 10 in the default rules) is all at the hub before the
// bulk topic got more than a couple of batches through.
func TestControlBeforeBacklog(t *testing.T) {
	testenv.Integration(t)
	dir := t.TempDir()
	skerry, tower, err := uplinktest.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := uplinktest.New(dir, skerry, tower, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.StartStreamlog(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const control, bulk = "system/control", "acme/telemetry"
	want := map[string]int{control: 40000, bulk: 200000}
	for n, count := range want {
		if _, err := r.Log.CreateTopic(ctx, n, wire.TopicConfig{MaxBytes: 1 << 30}); err != nil {
			t.Fatal(err)
		}
		recs := make([]wire.Record, 1000)
		for i := range recs {
			recs[i].Value = make([]byte, 128)
		}
		for range count / len(recs) {
			if _, err := r.Log.Append(ctx, n, "", 0, recs); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := r.StartHub(); err != nil {
		t.Fatal(err)
	}
	if err := r.StartUplink(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		c, err := r.Log.Cursor(ctx, control, "uplink")
		if err == nil && c.Offset == uint64(want[control]) {
			b, err := r.Log.Cursor(ctx, bulk, "uplink")
			if err != nil {
				b.Offset = 0 // no cursor yet: nothing of it acknowledged
			}
			t.Logf("control caught up (%d records) with %d bulk records acknowledged", c.Offset, b.Offset)
			// One bulk batch may have gone before the control topic's
			// first read said it has a backlog, one more may be in flight.
			if b.Offset > 3*4096 {
				t.Errorf("bulk got %d records up before the control backlog of %d was through", b.Offset, want[control])
			}
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("control topic not caught up within 60 s")
}
