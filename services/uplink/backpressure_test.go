package uplink_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/skerry/skerry/qemu/testenv"
	"github.com/skerry/skerry/services/streamlog/wire"
	"github.com/skerry/skerry/services/uplink/uplinktest"
)

// TestHubBackPressure gives the edge hub a dead parent and 256 KiB of
// retention per topic, and has the site store about 600 KiB per topic.
// The hub takes records until its limit, then answers retry ("full"): it
// drops nothing it has not forwarded, and the site keeps the rest in its
// own log. When the parent comes back, everything reaches the top exactly
// once, in order.
func TestHubBackPressure(t *testing.T) {
	testenv.Integration(t)
	metrics := freeAddr(t)
	c := newChain(t, []string{"-topic-max-bytes", "262144", "-metrics", metrics}, nil)
	// The chain starts the mid and top hubs: kill them, the edge hub's
	// parent is down from now on.
	c.mid.Kill()
	c.top.Kill()
	ctx := context.Background()
	value := bytes.Repeat([]byte("x"), 1000)
	for _, n := range topics {
		for i := range 60 {
			recs := make([]wire.Record, 10)
			for j := range recs {
				recs[j] = wire.Record{Key: fmt.Appendf(nil, "%d/%d", i, j), Value: value}
			}
			if _, err := c.Log.Append(ctx, n, "", 0, recs); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Wait for the back-pressure to show (or give up on it, and see what
	// the hub did instead).
	deadline := time.Now().Add(20 * time.Second)
	for scrape(t, metrics, "skerry_hub_batches_full_total") < 2 {
		if time.Now().After(deadline) {
			t.Error("the hub never answered full")
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	hl, err := uplinktest.HubLog(c.HubData())
	if err != nil {
		t.Fatal(err)
	}
	infos, err := hl.Topics(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range infos {
		t.Logf("hub %s: [%d, %d), %d bytes", info.Name, info.Start, info.Next, info.Bytes)
		if info.Start != 0 {
			t.Errorf("hub %s: retention dropped [0, %d) before it was forwarded", info.Name, info.Start)
		}
	}
	for _, n := range topics {
		info, _ := c.Log.Topic(ctx, n)
		cur, _ := c.Log.Cursor(ctx, n, "uplink")
		t.Logf("site %s: %d records, %d at the hub", n, info.Next, cur.Offset)
		if cur.Offset >= info.Next {
			t.Errorf("site %s: the hub took all %d records past its retention", n, info.Next)
		}
	}
	if lag := scrape(t, metrics, "skerry_hub_forward_lag_records"); lag == 0 {
		t.Error("skerry_hub_forward_lag_records is 0 with the parent down")
	}
	for _, h := range []*uplinktest.Hub{c.top, c.mid} {
		if err := h.Start(); err != nil {
			t.Fatal(err)
		}
	}
	checkTop(t, c)
	if lag := scrape(t, metrics, "skerry_hub_forward_lag_records"); lag != 0 {
		t.Errorf("skerry_hub_forward_lag_records is %v after everything went up", lag)
	}
	if fwd := scrape(t, metrics, "skerry_hub_records_forwarded_total"); fwd < 1200 {
		t.Errorf("skerry_hub_records_forwarded_total is %v, want at least 1200", fwd)
	}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// scrape reads one metric (without labels) from a /metrics page.
func scrape(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in /metrics", name)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
