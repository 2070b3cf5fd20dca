package uplink_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/skerry/skerry/qemu/testenv"
	"github.com/skerry/skerry/services/streamlog/wire"
	"github.com/skerry/skerry/services/uplink/uplinktest"
)

// TestHubDiskFull puts the hub's stream log on a tmpfs of its own, half
// taken by ballast, and has the site store more than fits. The hub answers
// retry while its disk is full (the site's cursor stops; the records stay
// on the site), and once the ballast is deleted everything arrives, exactly
// once and in order, without restarting anything.
func TestHubDiskFull(t *testing.T) {
	testenv.Integration(t, testenv.Root())
	var ballast string
	r := newRig(t, func(r *uplinktest.Rig) {
		if err := os.MkdirAll(r.HubData(), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mount("tmpfs", r.HubData(), "tmpfs", 0, "size=32m"); err != nil {
			t.Fatalf("mount a tmpfs of 32 MiB on %s: %v", r.HubData(), err)
		}
		t.Cleanup(func() { syscall.Unmount(r.HubData(), syscall.MNT_DETACH) })
		ballast = filepath.Join(r.HubData(), "ballast")
		if err := os.WriteFile(ballast, make([]byte, 16<<20), 0o600); err != nil {
			t.Fatal(err)
		}
	})
	ctx := context.Background()
	batch := make([]wire.Record, 64)
	for i := range batch {
		batch[i] = wire.Record{Value: make([]byte, 1000), Headers: []wire.Header{{Key: "i", Value: []byte{byte(i)}}}}
	}
	// About 16 MB: more than the hub has room for.
	for range 250 {
		if _, err := r.Log.Append(ctx, "acme/telemetry", "", 0, batch); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if _, err := r.Log.Append(ctx, "system/control", "", 0, batch); err != nil {
			t.Fatal(err)
		}
	}
	// The uplink's cursor stops short of the end: the hub refuses to take
	// more while full.
	info, err := r.Log.Topic(ctx, "acme/telemetry")
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for still := 0; still < 30; time.Sleep(100 * time.Millisecond) {
		cur, _ := r.Log.Cursor(ctx, "acme/telemetry", "uplink")
		if cur.Offset >= info.Next {
			t.Fatalf("the hub took all %d records on a full disk", info.Next)
		}
		if cur.Offset != last {
			last, still = cur.Offset, 0
		} else if cur.Offset > 0 {
			still++
		}
	}
	t.Logf("hub full at %d of %d records", last, info.Next)
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	checkHub(t, r)
}
