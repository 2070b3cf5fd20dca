package hub

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/streamlog"
	"github.com/skerry/skerry/services/streamlog/wire"
)

// forwarded is a batch hub sends for origin s9's topic t/x: hub offsets
// from first on, the origin's offsets 100 above them.
func forwarded(hub string, first uint64, n int, origin bool) *uplinkapi.Batch {
	b := &uplinkapi.Batch{Site: hub, Tenant: "t", Topic: "s9.x", From: first, Epoch: 5}
	for i := range n {
		off := first + uint64(i)
		r := wire.Record{Offset: off, Time: time.Unix(0, int64(off)), Value: []byte{byte(off)}}
		if origin {
			hs := uplinkapi.SiteHeaders(off+100, time.Unix(1, 0), 3)
			r.Headers = append(hs[:], uplinkapi.HopHeader(off+50, 9)) // a previous hop's mark
		}
		b.Records = append(b.Records, r)
	}
	return b
}

// TestForwardRoles: a hub certificate's batches are stored under the
// origin site with the origin's headers and this hop's mark; the same
// batch from a site certificate is stored under that site's own name (a
// site cannot claim to be a hub); a forwarded record without origin
// headers is refused.
func TestForwardRoles(t *testing.T) {
	h, authority, store := testHub(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, err := authority.HubCert("h1", key.Public(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	hubTLS := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key}},
		RootCAs: authority.Pool(), ServerName: "127.0.0.1"}
	ctx := context.Background()
	for _, tc := range []struct {
		id  string
		tls *tls.Config
	}{{"h1", hubTLS}, {"s1", siteTLS(t, authority, authority, "s1")}} {
		pc, acks, err := dial(t, h, tc.tls, tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pc.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: uplinkapi.AckTopic(tc.id, tc.id)}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := publish(pc, tc.id, forwarded(tc.id, 0, 3, true)); err != nil {
			t.Fatal(err)
		}
		if a := <-acks; a.Status != uplinkapi.StatusStored || a.Next != 3 {
			t.Errorf("%s: got %+v, want stored next 3", tc.id, a)
		}
	}
	// The hub's batch: under the origin s9, origin offsets, hop = h1's.
	recs, err := store.Read("t/s9.x", 0, streamlog.ReadOptions{MaxRecords: 10})
	if err != nil || len(recs) != 3 {
		t.Fatalf("origin topic t/s9.x: %d records, %v; want 3", len(recs), err)
	}
	for i, r := range recs {
		off, _, ok := uplinkapi.SiteOrigin(r.Headers)
		hop, epoch, hok := uplinkapi.Hop(r.Headers)
		if !ok || !hok || off != uint64(100+i) || hop != uint64(i) || epoch != 5 || len(r.Headers) != 4 {
			t.Errorf("record %d: origin %d (%v), hop %d/%d (%v), %d headers; want origin %d, hop %d/5, 4 headers", i, off, ok, hop, epoch, hok, len(r.Headers), 100+i, i)
		}
	}
	// The site's: under its own ID, its headers kept as data.
	if info, err := store.Topic("t/s1.s9.x"); err != nil || info.Next != 3 {
		t.Errorf("the site's batch: t/s1.s9.x %+v, %v; want its 3 records under s1", info, err)
	}
	// Without origin headers: refused, nothing stored.
	pc, acks, err := dial(t, h, hubTLS, "h1.again")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: uplinkapi.AckTopic("h1", "h1")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := publish(pc, "h1", forwarded("h1", 3, 1, false)); err != nil {
		t.Fatal(err)
	}
	if a := <-acks; a.Status != uplinkapi.StatusRefused || a.Code != uplinkapi.CodeBadBatch {
		t.Errorf("forwarded without origin headers: got %+v, want refused bad_batch", a)
	}
	if info, _ := store.Topic("t/s9.x"); info.Next != 3 {
		t.Errorf("t/s9.x next %d after a refused batch, want 3", info.Next)
	}
}
