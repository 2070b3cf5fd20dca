package uplink_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/skerry/skerry/qemu/testenv"
	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/streamlog"
	"github.com/skerry/skerry/services/streamlog/wire"
	"github.com/skerry/skerry/services/uplink/uplinktest"
)

// TestKillUplinkAndHub runs the real binaries (skerry streamlog, tower
// hub, skerry uplink) as processes, produces into two topics the whole
// time, and kills the uplink or the hub with SIGKILL at random points,
// restarting each. Then it checks that every record the site stored is at
// the hub exactly once, in order, with its site offset, time and value.
func TestKillUplinkAndHub(t *testing.T) {
	testenv.Integration(t)
	r := newRig(t, nil)
	stop := startProducers(t, r)
	rounds := 10
	if testing.Short() {
		rounds = 3
	}
	for round := range rounds {
		time.Sleep(time.Duration(100+rand.IntN(900)) * time.Millisecond)
		if rand.IntN(2) == 0 {
			r.KillHub()
			time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
			if err := r.StartHub(); err != nil {
				t.Fatalf("round %d: restart hub: %v", round, err)
			}
			t.Logf("round %d: killed and restarted the hub", round)
		} else {
			r.KillUplink()
			if err := r.StartUplink(uplinkArgs...); err != nil {
				t.Fatalf("round %d: restart uplink: %v", round, err)
			}
			t.Logf("round %d: killed and restarted the uplink", round)
		}
	}
	stop()
	checkHub(t, r)
}

var topics = []string{"system/control", "acme/telemetry"}

// uplinkArgs make a dead link show within seconds, not the default 30.
var uplinkArgs = []string{"-ack-timeout", "3s"}

// newRig builds the binaries and starts a site stream log with two
// topics, a hub (prefixed by wrap, e.g. ip netns exec) and an uplink.
func newRig(t *testing.T, setup func(*uplinktest.Rig)) *uplinktest.Rig {
	t.Helper()
	dir := t.TempDir()
	skerry, tower, err := uplinktest.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := uplinktest.New(dir, skerry, tower, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	if setup != nil {
		setup(r)
	}
	if err := r.StartStreamlog(); err != nil {
		t.Fatal(err)
	}
	for _, n := range topics {
		if _, err := r.Log.CreateTopic(context.Background(), n, wire.TopicConfig{MaxBytes: 1 << 30}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.StartHub(); err != nil {
		t.Fatal(err)
	}
	if err := r.StartUplink(uplinkArgs...); err != nil {
		t.Fatal(err)
	}
	return r
}

// startProducers writes into every topic until the returned func is
// called; what the site acknowledged is what must arrive.
func startProducers(t *testing.T, r *uplinktest.Rig) (stop func()) {
	ctx := context.Background()
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, n := range topics {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				recs := make([]wire.Record, 1+rand.IntN(100))
				for j := range recs {
					recs[j] = wire.Record{Key: fmt.Appendf(nil, "k%d", j), Value: fmt.Appendf(nil, "%s %d/%d", n, i, j),
						Headers: []wire.Header{{Key: "h", Value: []byte{byte(j)}}}}
				}
				if _, err := r.Log.Append(ctx, n, "", 0, recs); err != nil {
					t.Errorf("produce %s: %v", n, err)
					return
				}
				time.Sleep(time.Duration(5+rand.IntN(20)) * time.Millisecond)
			}
		}()
	}
	return func() {
		close(done)
		wg.Wait()
	}
}

// checkHub waits until the uplink caught up, stops the hub and compares
// every topic at the hub with the site: exactly once, in order, with the
// site's offset, time, key, headers and value.
func checkHub(t *testing.T, r *uplinktest.Rig) {
	t.Helper()
	ctx := context.Background()
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := r.WaitCaughtUp(wctx, topics...); err != nil {
		t.Fatal(err)
	}
	r.KillUplink()
	if err := r.StopHub(); err != nil {
		t.Logf("stop hub: %v", err)
	}
	hub, err := streamlog.Open(r.HubData())
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	for _, n := range topics {
		site := readAll(t, func(from uint64) ([]wire.Record, error) {
			return r.Log.Read(ctx, n, clientFrom(from), 4096)
		})
		tenant, topic, _ := cut(n)
		hn, _ := uplinkapi.HubTopic(uplinktest.Site, tenant, topic)
		var got []wire.Record
		for from := uint64(0); ; {
			recs, err := hub.Read(hn, from, streamlog.ReadOptions{MaxRecords: 4096, MaxBytes: 4 << 20})
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) == 0 {
				break
			}
			for _, rec := range recs {
				hs := make([]wire.Header, len(rec.Headers))
				for i, h := range rec.Headers {
					hs[i] = wire.Header{Key: h.Key, Value: h.Value}
				}
				off, at, ok := uplinkapi.SiteOrigin(hs)
				if !ok {
					t.Fatalf("%s: hub record %d without site origin", n, rec.Offset)
				}
				got = append(got, wire.Record{Offset: off, Time: at, Key: rec.Key, Headers: hs[:len(hs)-3], Value: rec.Value})
			}
			from = recs[len(recs)-1].Offset + 1
		}
		t.Logf("%s: %d records at the site, %d at the hub", n, len(site), len(got))
		if len(site) < 100 {
			t.Errorf("%s: only %d records produced: the test did not load the uplink", n, len(site))
		}
		compare(t, n, site, got)
	}
}

// compare reports the first record where the hub differs from the site,
// and how many records are missing or duplicated.
func compare(t *testing.T, name string, site, hub []wire.Record) {
	t.Helper()
	seen := map[uint64]int{}
	for _, r := range hub {
		seen[r.Offset]++
	}
	var missing, dups int
	for _, r := range site {
		switch seen[r.Offset] {
		case 0:
			missing++
		case 1:
		default:
			dups += seen[r.Offset] - 1
		}
	}
	if missing > 0 || dups > 0 || len(site) != len(hub) {
		t.Errorf("%s: %d records missing at the hub, %d duplicated (site %d, hub %d)", name, missing, dups, len(site), len(hub))
	}
	for i := range min(len(site), len(hub)) {
		if diff := cmp.Diff(site[i], hub[i]); diff != "" {
			t.Errorf("%s: record %d differs (-site +hub):\n%s", name, i, diff)
			return
		}
	}
}
