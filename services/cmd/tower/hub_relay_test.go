package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/skerry/skerry/qemu/testenv"
	"github.com/skerry/skerry/services/agent"
	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/streamlog/client"
	"github.com/skerry/skerry/services/streamlog/wire"
	"github.com/skerry/skerry/services/tower"
	"github.com/skerry/skerry/services/tower/towertest"
	"github.com/skerry/skerry/services/uplink/uplinktest"
)

// TestRelayDownlink sends a site control records through the tower's API
// while the site's real uplink (skerry uplink, skerry streamlog) is
// connected to a standalone hub, not to the tower: the hub relays them
// down from the tower's embedded hub (or from a hub between, relaying
// from the tower), and the site holds each exactly once, in order, in its
// system/downlink, also across a restart of its hub between two records.
func TestRelayDownlink(t *testing.T) {
	testenv.Integration(t)
	skerry, towerBin, err := uplinktest.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, hubs := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d hubs", hubs), func(t *testing.T) { testRelayDownlink(t, hubs, skerry, towerBin) })
	}
}

func testRelayDownlink(t *testing.T, hubs int, skerry, towerBin string) {
	dir := t.TempDir()
	tw := towertest.Start(t, tower.WithUplink("127.0.0.1:0"))
	op := tw.Client(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	site := enrollSoftware(t, tw, 1)[0]
	res := site.EnrollResult

	// tower <- hub1 <- ... <- hub<n> <- site
	var c hubConfig
	stop := func() {}
	for i := 1; i <= hubs; i++ {
		id := fmt.Sprintf("hub%d", i)
		files := addHub(t, op, id, dir)
		parent := tw.UplinkAddr()
		if i > 1 {
			parent = c.listen
		}
		c = hubConfig{data: filepath.Join(dir, id), listen: freeAddr(t), hosts: []string{"127.0.0.1"}, maxBytes: 1 << 30,
			certFile: files.cert, keyFile: files.key, caCert: files.ca,
			parent: parent, id: id, parentCert: files.cert, parentKey: files.key, ackTimeout: 5 * time.Second}
		stop = startHub(t, c)
	}

	rig, err := uplinktest.New(filepath.Join(dir, "site"), skerry, towerBin, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rig.Close)
	key, err := x509.MarshalPKCS8PrivateKey(site.key)
	if err != nil {
		t.Fatal(err)
	}
	id := agent.Identity{Version: agent.IdentityVersion, Tower: tw.URL, SiteID: res.SiteID, Software: true, Key: key,
		Certificate: res.Certificate, CACertificate: res.CACertificate, EnrolledAt: time.Now(), Uplink: c.listen}
	if err := id.Save(rig.IdentityDir()); err != nil {
		t.Fatal(err)
	}
	rig.HubAddr = c.listen
	if err := rig.StartStreamlog(); err != nil {
		t.Fatal(err)
	}
	if err := rig.StartUplink(); err != nil {
		t.Fatal(err)
	}

	send := func(n int) {
		t.Helper()
		if err := op.Do(ctx, "POST", "/v1/sites/"+url.PathEscape(res.SiteID)+"/control", json.RawMessage(fmt.Sprintf(`{"n":%d}`, n)), nil); err != nil {
			t.Fatal(err)
		}
	}
	for n := range 3 {
		send(n)
	}
	waitDownlink(t, ctx, rig.Log, 3)
	// The site's hub restarts: its relay and the site's downlink start
	// again from their cursors; the next record comes once, the first
	// three not again.
	stop()
	startHub(t, c)
	send(3)
	waitDownlink(t, ctx, rig.Log, 4)
	time.Sleep(2 * time.Second) // a duplicate would follow within the ack timeouts
	waitDownlink(t, ctx, rig.Log, 4)
}

// waitDownlink waits until the site's system/downlink holds want records
// and checks they are {"n":0}, {"n":1}, ... in order, no more.
func waitDownlink(t *testing.T, ctx context.Context, log *client.Client, want int) {
	t.Helper()
	var recs []wire.Record
	for {
		var err error
		recs, err = log.Read(ctx, uplinkapi.SiteDownlinkTopic, client.From{Offset: 0}, 100)
		if err != nil && !errors.Is(err, wire.ErrTopicNotFound) {
			t.Fatal(err)
		}
		if len(recs) >= want {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the site holds %d control records, want %d: the hub did not relay them from the tower", len(recs), want)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if len(recs) != want {
		t.Fatalf("the site holds %d control records, want %d: duplicates", len(recs), want)
	}
	for i, r := range recs {
		if w := fmt.Sprintf(`{"n":%d}`, i); string(r.Value) != w {
			t.Errorf("control record %d at the site: %s, want %s", i, r.Value, w)
		}
	}
}

// startHub runs "tower hub" with c in this process until the returned
// stop (or the test's end).
func startHub(t *testing.T, c hubConfig) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	g, gctx := errgroup.WithContext(ctx)
	if err := runHub(gctx, g, io.Discard, c); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := false
	stop = func() {
		if done {
			return
		}
		done = true
		cancel()
		if err := g.Wait(); err != nil {
			t.Errorf("hub: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}
