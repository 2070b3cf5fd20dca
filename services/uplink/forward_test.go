package uplink_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/skerry/skerry/qemu/testenv"
	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/streamlog/wire"
	"github.com/skerry/skerry/services/uplink/uplinktest"
)

// chain is site → edge hub (the rig's) → mid hub → top hub.
type chain struct {
	*uplinktest.Rig
	mid, top *uplinktest.Hub
}

// newChain starts the chain; edgeArgs and midArgs are added to the two
// forwarding hubs' command lines.
func newChain(t *testing.T, edgeArgs, midArgs []string) *chain {
	t.Helper()
	c := &chain{}
	c.Rig = newRig(t, func(r *uplinktest.Rig) {
		var err error
		if c.top, err = r.NewHub("top"); err != nil {
			t.Fatal(err)
		}
		if c.mid, err = r.NewHub("mid", append([]string{"-id", "hubmid", "-parent", c.top.Addr, "-ack-timeout", "3s"}, midArgs...)...); err != nil {
			t.Fatal(err)
		}
		for _, h := range []*uplinktest.Hub{c.top, c.mid} {
			if err := h.Start(); err != nil {
				t.Fatal(err)
			}
		}
		r.HubArgs = append([]string{"-id", "hubedge", "-parent", c.mid.Addr, "-ack-timeout", "3s"}, edgeArgs...)
	})
	return c
}

// TestForwardChainKill runs site → hub → hub → top as real processes,
// produces the whole time and kills (SIGKILL) the uplink or any of the
// three hubs at random points. Then the top holds every record the site
// stored exactly once, in order, under the origin site's name with the
// origin's offset, time, key, headers and value.
func TestForwardChainKill(t *testing.T) {
	testenv.Integration(t)
	c := newChain(t, nil, nil)
	stop := startProducers(t, c.Rig)
	rounds := 12
	if testing.Short() {
		rounds = 4
	}
	for round := range rounds {
		time.Sleep(time.Duration(200+rand.IntN(800)) * time.Millisecond)
		var err error
		switch what := rand.IntN(4); what {
		case 0:
			c.KillUplink()
			err = c.StartUplink(uplinkArgs...)
		case 1:
			c.KillHub()
			time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
			err = c.StartHub()
		default:
			h := c.mid
			if what == 3 {
				h = c.top
			}
			h.Kill()
			time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
			err = h.Start()
		}
		if err != nil {
			t.Fatalf("round %d: restart: %v", round, err)
		}
	}
	stop()
	checkTop(t, c)
}

// checkTop waits until everything went up the chain, stops the top and
// compares its topics with the site's.
func checkTop(t *testing.T, c *chain) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.WaitCaughtUp(ctx, topics...); err != nil {
		t.Fatal(err)
	}
	if err := uplinktest.WaitForwarded(ctx, nil, c.HubData(), c.mid.Data); err != nil {
		t.Fatal(err)
	}
	for _, n := range topics {
		compare(t, n, siteRecords(t, c.Rig, n), topRecords(t, c.top, n))
	}
}

func siteRecords(t *testing.T, r *uplinktest.Rig, n string) []wire.Record {
	t.Helper()
	return readAll(t, func(from uint64) ([]wire.Record, error) {
		return r.Log.Read(context.Background(), n, clientFrom(from), 4096)
	})
}

// topRecords reads the site topic n at the top hub while it runs, as the
// site had it: the origin's offset and time from the headers, which are
// taken off with the hop's.
func topRecords(t *testing.T, top *uplinktest.Hub, n string) []wire.Record {
	t.Helper()
	ctx := context.Background()
	log, err := top.Log()
	if err != nil {
		t.Fatal(err)
	}
	tenant, topic, _ := cut(n)
	hn, _ := uplinkapi.HubTopic(uplinktest.Site, tenant, topic)
	recs := readAll(t, func(from uint64) ([]wire.Record, error) {
		return log.Read(ctx, hn, clientFrom(from), 4096)
	})
	out := make([]wire.Record, 0, len(recs))
	for _, rec := range recs {
		off, at, ok := uplinkapi.SiteOrigin(rec.Headers)
		if !ok {
			t.Fatalf("%s: top record %d without the origin's headers", n, rec.Offset)
		}
		if _, _, ok := uplinkapi.Hop(rec.Headers); !ok {
			t.Fatalf("%s: top record %d was not forwarded by a hub (no %s header)", n, rec.Offset, uplinkapi.HeaderHop)
		}
		var hs []wire.Header
		for _, h := range rec.Headers {
			switch h.Key {
			case uplinkapi.HeaderSiteOffset, uplinkapi.HeaderSiteTime, uplinkapi.HeaderSiteEpoch, uplinkapi.HeaderHop:
			default:
				hs = append(hs, h)
			}
		}
		out = append(out, wire.Record{Offset: off, Time: at, Key: rec.Key, Headers: hs, Value: rec.Value})
	}
	t.Logf("%s: %d records at the top", n, len(out))
	return out
}
