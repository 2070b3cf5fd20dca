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
	dir := t.TempDir()
	skerry, tower, err := uplinktest.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := uplinktest.New(dir, skerry, tower, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.StartStreamlog(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	topics := []string{"system/control", "acme/telemetry"}
	for _, n := range topics {
		if _, err := r.Log.CreateTopic(ctx, n, wire.TopicConfig{MaxBytes: 1 << 30}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.StartHub(); err != nil {
		t.Fatal(err)
	}
	if err := r.StartUplink(); err != nil {
		t.Fatal(err)
	}

	// Producers write the whole time; what the site acknowledged is what
	// must arrive.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, n := range topics {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				recs := make([]wire.Record, 1+rand.IntN(200))
				for j := range recs {
					recs[j] = wire.Record{Key: fmt.Appendf(nil, "k%d", j), Value: fmt.Appendf(nil, "%s %d/%d", n, i, j),
						Headers: []wire.Header{{Key: "h", Value: []byte{byte(j)}}}}
				}
				if _, err := r.Log.Append(ctx, n, "", 0, recs); err != nil {
					t.Errorf("produce %s: %v", n, err)
					return
				}
				time.Sleep(time.Duration(rand.IntN(5)) * time.Millisecond)
			}
		}()
	}

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
			if err := r.StartUplink(); err != nil {
				t.Fatalf("round %d: restart uplink: %v", round, err)
			}
			t.Logf("round %d: killed and restarted the uplink", round)
		}
	}
	close(stop)
	wg.Wait()
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := r.WaitCaughtUp(wctx, topics...); err != nil {
		t.Fatal(err)
	}
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
				got = append(got, wire.Record{Offset: off, Time: at, Key: rec.Key, Headers: hs[:len(hs)-2], Value: rec.Value})
			}
			from = recs[len(recs)-1].Offset + 1
		}
		t.Logf("%s: %d records at the site, %d at the hub", n, len(site), len(got))
		if len(site) < 100 {
			t.Errorf("%s: only %d records produced: the test did not load the uplink", n, len(site))
		}
		// Exactly once, in order, with the site's offset and time.
		if diff := cmp.Diff(site, got); diff != "" {
			t.Errorf("%s: hub differs from site (-site +hub):\n%s", n, diff)
		}
	}
}
