package tower_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/streamlog/wire"
	"github.com/skerry/skerry/services/tower"
	"github.com/skerry/skerry/services/tower/towertest"
)

// enrolledSite registers a software site in tenant acme of tw and returns
// its ID and TLS certificate.
func enrolledSite(t *testing.T, tw *towertest.Tower) (string, tls.Certificate, enrollapi.EnrollResult) {
	t.Helper()
	ctx := context.Background()
	op := tw.Client(t, "")
	if err := op.Do(ctx, "POST", "/v1/tenants", towerapi.Tenant{ID: "acme", AllowSoftwareIdentity: true}, nil); err != nil {
		t.Fatal(err)
	}
	var tok towerapi.EnrollTokenCreated
	if err := op.Do(ctx, "POST", "/v1/enrollment-tokens", towerapi.EnrollTokenCreate{Tenant: "acme"}, &tok); err != nil {
		t.Fatal(err)
	}
	sa := towertest.NewSoftwareAgent(t, tw.URL, tw.CAPEM)
	res, err := sa.Enroll(ctx, tok.Token)
	if err != nil || res.Status != enrollapi.StatusRegistered {
		t.Fatalf("enroll: %+v, %v", res, err)
	}
	return res.SiteID, tls.Certificate{Certificate: [][]byte{res.Certificate}, PrivateKey: sa.Key}, res
}

// siteBatch is n records of tenant/topic from site offset first, appended
// a millisecond apart from base.
func siteBatch(site, tenant, topic string, first uint64, n int, base time.Time) *uplinkapi.Batch {
	b := &uplinkapi.Batch{Site: site, Tenant: tenant, Topic: topic, From: first, Epoch: 1}
	for i := range n {
		off := first + uint64(i)
		b.Records = append(b.Records, wire.Record{Offset: off, Time: base.Add(time.Duration(off) * time.Millisecond),
			Value: fmt.Appendf(nil, "v%d", off)})
	}
	return b
}

// TestSiteRecordsAPI reads batches a site sent to the embedded hub back
// through the API: by site offset, by site time, past the end, and the
// parameters it refuses; the status report answer names the uplink
// address; a revoked site's connection is refused.
func TestSiteRecordsAPI(t *testing.T) {
	tw := towertest.Start(t, tower.WithUplink("127.0.0.1:0"))
	site, cert, res := enrolledSite(t, tw)
	_, port, _ := net.SplitHostPort(tw.UplinkAddr())
	if want := "127.0.0.1:" + port; res.UplinkAddress != want {
		t.Errorf("enrollment result's uplink address: got %q, want %q", res.UplinkAddress, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, b := range []*uplinkapi.Batch{siteBatch(site, "acme", "data", 0, 10, base), siteBatch(site, "acme", "data", 10, 5, base)} {
		if a, err := towertest.SendBatch(ctx, tw.UplinkAddr(), cert, tw.CAPEM, b); err != nil || a.Status != uplinkapi.StatusStored {
			t.Fatalf("send batch: %+v, %v", a, err)
		}
	}
	op := tw.Client(t, "")
	path := "/v1/sites/" + site + "/topics/acme/data/records"
	for _, tc := range []struct {
		query   string
		offsets []uint64
		next    uint64
	}{
		{"", seq(0, 15), 15},
		{"?offset=5&limit=3", seq(5, 3), 8},
		{"?offset=14", seq(14, 1), 15},
		{"?offset=15", nil, 15},
		{"?offset=99", nil, 99},
		{"?since=" + url.QueryEscape(base.Add(7*time.Millisecond).Format(time.RFC3339Nano)) + "&limit=2", seq(7, 2), 9},
		{"?since=" + url.QueryEscape(base.Add(time.Hour).Format(time.RFC3339Nano)), nil, 15},
	} {
		var page towerapi.TopicRecords
		if err := op.Do(ctx, "GET", path+tc.query, nil, &page); err != nil {
			t.Errorf("GET %s: %v", tc.query, err)
			continue
		}
		var got []uint64
		for _, r := range page.Records {
			got = append(got, r.Offset)
			if want := base.Add(time.Duration(r.Offset) * time.Millisecond); !r.Time.Equal(want) || string(r.Value) != fmt.Sprintf("v%d", r.Offset) || len(r.Headers) != 0 {
				t.Errorf("GET %s: record %+v, want time %v, value v%d, no headers (the hub's are removed)", tc.query, r, want, r.Offset)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.offsets) || page.Next != tc.next {
			t.Errorf("GET %s: offsets %v next %d, want %v next %d", tc.query, got, page.Next, tc.offsets, tc.next)
		}
	}
	for _, q := range []string{"?offset=x", "?offset=1&since=2026-01-02T00:00:00Z", "?since=yesterday", "?limit=0", "?limit=1001", "?wait=31", "?wait=-1"} {
		var e *enrollapi.Error
		if err := op.Do(ctx, "GET", path+q, nil, nil); !errors.As(err, &e) || e.Code != "bad_request" {
			t.Errorf("GET %s: %v, want bad_request", q, err)
		}
	}

	// Status report answers carry the address too.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(tw.CAPEM)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
	hdr, err := towertest.Post(ctx, hc, tw.URL+enrollapi.PathStatus, enrollapi.StatusReport{}, nil)
	if err != nil || hdr.Get(enrollapi.HeaderUplinkAddress) != res.UplinkAddress {
		t.Errorf("status report answer: %s %q, %v; want %q", enrollapi.HeaderUplinkAddress, hdr.Get(enrollapi.HeaderUplinkAddress), err, res.UplinkAddress)
	}

	// A revoked site's certificate still chains to the CA: the embedded
	// hub asks the tower, and refuses it.
	if err := op.Do(ctx, "POST", "/v1/sites/"+site+"/revoke", nil, nil); err != nil {
		t.Fatal(err)
	}
	if a, err := towertest.SendBatch(ctx, tw.UplinkAddr(), cert, tw.CAPEM, siteBatch(site, "acme", "data", 15, 1, base)); err == nil {
		t.Errorf("a revoked site sent a batch: %+v", a)
	}
}

// seq is n offsets from first.
func seq(first uint64, n int) []uint64 {
	var out []uint64
	for i := range n {
		out = append(out, first+uint64(i))
	}
	return out
}

// TestUplinkAddressOverride: -uplink-address replaces the derived address,
// and a tower without an uplink listener names none.
func TestUplinkAddressOverride(t *testing.T) {
	tw := towertest.Start(t, tower.WithUplink("127.0.0.1:0"), tower.WithUplinkAddress("hub.example:8883"))
	if _, _, res := enrolledSite(t, tw); res.UplinkAddress != "hub.example:8883" {
		t.Errorf("with -uplink-address: got %q", res.UplinkAddress)
	}
	off := towertest.Start(t)
	if _, _, res := enrolledSite(t, off); res.UplinkAddress != "" {
		t.Errorf("without an uplink listener: got %q, want none", res.UplinkAddress)
	}
}
