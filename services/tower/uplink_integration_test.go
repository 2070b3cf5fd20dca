package tower_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skerry/skerry/qemu/testenv"
	"github.com/skerry/skerry/services/agent"
	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/streamlog/client"
	"github.com/skerry/skerry/services/streamlog/wire"
	"github.com/skerry/skerry/services/tower"
	"github.com/skerry/skerry/services/tower/towertest"
	"github.com/skerry/skerry/services/uplink"
	"github.com/skerry/skerry/services/uplink/uplinktest"
)

// uplinkSite is a site registered at a real tower whose real stream log
// (skerry streamlog) and uplink (skerry uplink) run as processes and send
// to the tower's embedded hub.
type uplinkSite struct {
	tw  *towertest.Tower
	rig *uplinktest.Rig
	id  string
	op  *towerapi.Client
}

// startUplinkSite starts a tower with its uplink listener, enrolls a
// software site into tenant acme, writes its identity where skerry uplink
// reads it, creates topics and starts the site's processes.
func startUplinkSite(t *testing.T, topics ...string) *uplinkSite {
	t.Helper()
	dir := t.TempDir()
	skerry, towerBin := buildSite(t)
	tw := towertest.Start(t, tower.WithUplink("127.0.0.1:0"))
	op := tw.Client(t, "")
	ctx := context.Background()
	for _, tn := range []string{"acme", "globex"} {
		if err := op.Do(ctx, "POST", "/v1/tenants", towerapi.Tenant{ID: tn, AllowSoftwareIdentity: true}, nil); err != nil {
			t.Fatal(err)
		}
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
	if _, port, _ := strings.Cut(tw.UplinkAddr(), ":"); res.UplinkAddress != "127.0.0.1:"+port {
		t.Errorf("enrollment result's uplink address: got %q, want 127.0.0.1:%s (the host the site used, the broker's port)", res.UplinkAddress, port)
	}
	rig, err := uplinktest.New(dir, skerry, towerBin, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rig.Close)
	key, err := x509.MarshalPKCS8PrivateKey(sa.Key)
	if err != nil {
		t.Fatal(err)
	}
	id := agent.Identity{Version: agent.IdentityVersion, Tower: tw.URL, SiteID: res.SiteID, Software: true, Key: key,
		Certificate: res.Certificate, CACertificate: res.CACertificate, EnrolledAt: time.Now(), Uplink: res.UplinkAddress}
	if err := id.Save(filepath.Join(dir, "identity")); err != nil {
		t.Fatal(err)
	}
	rig.HubAddr = res.UplinkAddress
	if err := rig.StartStreamlog(); err != nil {
		t.Fatal(err)
	}
	for _, n := range topics {
		if _, err := rig.Log.CreateTopic(ctx, n, wire.TopicConfig{MaxBytes: 1 << 30}); err != nil {
			t.Fatal(err)
		}
	}
	if err := rig.StartUplink(); err != nil {
		t.Fatal(err)
	}
	return &uplinkSite{tw: tw, rig: rig, id: res.SiteID, op: op}
}

var built struct {
	once               sync.Once
	dir, skerry, tower string
	err                error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// buildSite builds skerry (and tower, which the rig wants) once for the
// package's tests.
func buildSite(t *testing.T) (skerry, tower string) {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "tower-test-bin"); built.err == nil {
			built.skerry, built.tower, built.err = uplinktest.Build(built.dir)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.skerry, built.tower
}

// produce appends n records to name, in batches.
func (s *uplinkSite) produce(t *testing.T, name string, n int) {
	t.Helper()
	for i := 0; i < n; {
		recs := make([]wire.Record, min(n-i, 37))
		for j := range recs {
			recs[j] = wire.Record{Key: fmt.Appendf(nil, "k%d", i+j), Value: fmt.Appendf(nil, "%s #%d", name, i+j),
				Headers: []wire.Header{{Key: "h", Value: []byte{byte(j)}}}}
		}
		if _, err := s.rig.Log.Append(context.Background(), name, "", 0, recs); err != nil {
			t.Fatal(err)
		}
		i += len(recs)
	}
}

// readAll reads name at the tower from offset 0 with c, page by page.
func readAll(t *testing.T, c *towerapi.Client, site, name string, limit int) []towerapi.TopicRecord {
	t.Helper()
	var out []towerapi.TopicRecord
	for from := uint64(0); ; {
		var page towerapi.TopicRecords
		p := fmt.Sprintf("/v1/sites/%s/topics/%s/records?offset=%d&limit=%d", site, name, from, limit)
		if err := c.Do(context.Background(), "GET", p, nil, &page); err != nil {
			t.Fatal(err)
		}
		if len(page.Records) == 0 {
			return out
		}
		out = append(out, page.Records...)
		from = page.Next
	}
}

// TestUplinkToTower: a site uplinks to the tower itself; every record is
// readable at the tower once, in order, with the site's offsets and
// times, also across a kill -9 of the uplink; reading by time, the site
// view and the metrics show the same.
func TestUplinkToTower(t *testing.T) {
	testenv.Integration(t)
	s := startUplinkSite(t, "acme/data", "system/log")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s.produce(t, "acme/data", 300)
	s.rig.KillUplink()
	s.produce(t, "acme/data", 200)
	s.produce(t, "system/log", 5)
	if err := s.rig.StartUplink(); err != nil {
		t.Fatal(err)
	}
	if err := s.rig.WaitCaughtUp(ctx, "acme/data", "system/log"); err != nil {
		t.Fatal(err)
	}

	site, err := s.rig.Log.Read(ctx, "acme/data", client.From{}, 1000)
	if err != nil || len(site) != 500 {
		t.Fatalf("site records: %d, %v", len(site), err)
	}
	got := readAll(t, s.op, s.id, "acme/data", 77)
	if len(got) != len(site) {
		t.Fatalf("tower holds %d records of acme/data, the site %d", len(got), len(site))
	}
	for i, r := range got {
		w := site[i]
		if r.Offset != w.Offset || !r.Time.Equal(w.Time) || string(r.Value) != string(w.Value) || string(r.Key) != string(w.Key) ||
			len(r.Headers) != 1 || r.Headers[0].Key != "h" {
			t.Fatalf("record %d at the tower: %+v, at the site: offset %d time %v key %q value %q", i, r, w.Offset, w.Time, w.Key, w.Value)
		}
	}

	// From a time: the first record the site appended at or after it.
	var page towerapi.TopicRecords
	since := site[250].Time.Format(time.RFC3339Nano)
	if err := s.op.Do(ctx, "GET", "/v1/sites/"+s.id+"/topics/acme/data/records?limit=3&since="+url.QueryEscape(since), nil, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Records) != 3 || page.Records[0].Time.Before(site[250].Time) || page.Records[0].Offset > 250 || page.Next != page.Records[2].Offset+1 {
		t.Errorf("since %s: got %+v, want 3 records from offset 250 or the first of the same time", since, page)
	}

	var topics towerapi.List[towerapi.SiteTopic]
	if err := s.op.Do(ctx, "GET", "/v1/sites/"+s.id+"/topics", nil, &topics); err != nil {
		t.Fatal(err)
	}
	want := map[string]towerapi.SiteTopic{
		"acme/data":  {Tenant: "acme", Name: "data", Records: 500, FirstOffset: 0, NextOffset: 500, LastTime: site[499].Time},
		"system/log": {Tenant: "system", Name: "log", Records: 5, FirstOffset: 0, NextOffset: 5},
	}
	// The uplink also sends its own status topic, which grows on its own.
	statusBefore, produced := statusRecords(topics.Items), withoutStatus(topics.Items)
	if len(produced) != 2 {
		t.Fatalf("topics: got %+v, want acme/data and system/log (and %s)", topics.Items, uplink.StatusTopic)
	}
	for _, tp := range produced {
		w := want[tp.Tenant+"/"+tp.Name]
		if tp.Records != w.Records || tp.FirstOffset != w.FirstOffset || tp.NextOffset != w.NextOffset || tp.Bytes == 0 ||
			(!w.LastTime.IsZero() && !tp.LastTime.Equal(w.LastTime)) {
			t.Errorf("topic %s/%s: got %+v, want %+v", tp.Tenant, tp.Name, tp, w)
		}
	}

	var view towerapi.Site
	if err := s.op.Do(ctx, "GET", "/v1/sites/"+s.id, nil, &view); err != nil {
		t.Fatal(err)
	}
	if v := withoutStatus(view.Uplink); len(v) != 2 || v[0].LagSeconds <= 0 {
		t.Errorf("site view uplink: got %+v, want two topics with their lag", view.Uplink)
	}
	req, _ := http.NewRequest("GET", s.tw.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+s.tw.Token)
	resp, err := towertest.NewSoftwareAgent(t, s.tw.URL, s.tw.CAPEM).HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	if err := s.op.Do(ctx, "GET", "/v1/sites/"+s.id+"/topics", nil, &topics); err != nil {
		t.Fatal(err)
	}
	// 505 produced records plus the status records stored by then, which
	// lie between the two listings.
	var stored uint64
	for _, l := range strings.Split(string(metrics), "\n") {
		if v, ok := strings.CutPrefix(l, "skerry_hub_records_stored_total "); ok {
			fmt.Sscan(v, &stored)
		}
	}
	if stored < 505+statusBefore || stored > 505+statusRecords(topics.Items) {
		t.Errorf("/metrics: want skerry_hub_records_stored_total 505 + %d..%d status records:\n%s", statusBefore, statusRecords(topics.Items), grepLines(string(metrics), "skerry_hub"))
	}
}

// withoutStatus drops the uplink's own status topic from ts.
func withoutStatus(ts []towerapi.SiteTopic) []towerapi.SiteTopic {
	var out []towerapi.SiteTopic
	for _, tp := range ts {
		if tp.Tenant+"/"+tp.Name != uplink.StatusTopic {
			out = append(out, tp)
		}
	}
	return out
}

// statusRecords is how many records of the uplink's status topic ts holds.
func statusRecords(ts []towerapi.SiteTopic) uint64 {
	for _, tp := range ts {
		if tp.Tenant+"/"+tp.Name == uplink.StatusTopic {
			return tp.Records
		}
	}
	return 0
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestUplinkTopicsBoundary: a tenant token sees its own tenant's topics of
// its own tenant's sites, nothing of others', and another tenant's site or
// topic is not_found with the very message of a missing one.
func TestUplinkTopicsBoundary(t *testing.T) {
	testenv.Integration(t)
	s := startUplinkSite(t, "acme/data", "globex/data", "system/log")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, n := range []string{"acme/data", "globex/data", "system/log"} {
		s.produce(t, n, 3)
	}
	if err := s.rig.WaitCaughtUp(ctx, "acme/data", "globex/data", "system/log"); err != nil {
		t.Fatal(err)
	}
	token := func(role, tenant string) *towerapi.Client {
		var tok towerapi.OperatorTokenCreated
		if err := s.op.Do(ctx, "POST", "/v1/operator-tokens", towerapi.OperatorTokenCreate{Name: role + "-" + tenant, Role: role, Tenant: tenant}, &tok); err != nil {
			t.Fatal(err)
		}
		return s.tw.Client(t, tok.Token)
	}
	acme, globex := token("tenant-reader", "acme"), token("tenant-admin", "globex")

	var topics towerapi.List[towerapi.SiteTopic]
	if err := acme.Do(ctx, "GET", "/v1/sites/"+s.id+"/topics", nil, &topics); err != nil {
		t.Fatal(err)
	}
	if len(topics.Items) != 1 || topics.Items[0].Tenant != "acme" {
		t.Errorf("acme reader's topics: got %+v, want acme/data only", topics.Items)
	}
	if got := readAll(t, acme, s.id, "acme/data", 100); len(got) != 3 {
		t.Errorf("acme reader reads acme/data: %d records, want 3", len(got))
	}
	var view towerapi.Site
	if err := acme.Do(ctx, "GET", "/v1/sites/"+s.id, nil, &view); err != nil || len(view.Uplink) != 1 {
		t.Errorf("acme reader's site view: uplink %+v, %v; want acme/data only", view.Uplink, err)
	}
	if err := s.op.Do(ctx, "GET", "/v1/sites/"+s.id+"/topics", nil, &topics); err != nil || len(withoutStatus(topics.Items)) != 3 {
		t.Errorf("operator's topics: got %+v, %v; want all three", topics.Items, err)
	}

	const missingSite = "site-00000000deadbeef"
	// sameAs asks for what exists but c may not see, and for what does
	// not exist (names in the message differ by exactly what differs in
	// the path: real becomes missing).
	sameAs := func(who string, c *towerapi.Client, path, real, missing string) {
		t.Helper()
		var a, b *enrollapi.Error
		errA := c.Do(ctx, "GET", path, nil, &struct{}{})
		errB := c.Do(ctx, "GET", strings.ReplaceAll(path, real, missing), nil, &struct{}{})
		if !errors.As(errA, &a) || !errors.As(errB, &b) || a.Code != "not_found" || b.Code != "not_found" ||
			strings.ReplaceAll(a.Message, real, missing) != b.Message {
			t.Errorf("%s: GET %s: %v; a missing one: %v; want the same not_found", who, path, errA, errB)
		}
	}
	records := "/v1/sites/" + s.id + "/topics/%s/records"
	sameAs("acme reader, globex topic", acme, fmt.Sprintf(records, "globex/data"), "globex/data", "globex/nothing")
	sameAs("acme reader, system topic", acme, fmt.Sprintf(records, "system/log"), "system/log", "system/nothing")
	sameAs("globex admin, acme's site", globex, "/v1/sites/"+s.id+"/topics", s.id, missingSite)
	sameAs("globex admin, acme's site, its own tenant's topic", globex, fmt.Sprintf(records, "globex/data"), s.id, missingSite)
}

// TestUplinkTail: a held read (wait=) answers as soon as the site's next
// record reaches the tower, not at the end of its wait.
func TestUplinkTail(t *testing.T) {
	testenv.Integration(t)
	s := startUplinkSite(t, "acme/data")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s.produce(t, "acme/data", 2)
	if err := s.rig.WaitCaughtUp(ctx, "acme/data"); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		page towerapi.TopicRecords
		err  error
		at   time.Time
	}
	done := make(chan answer, 1)
	go func() {
		var a answer
		a.err = s.op.Do(ctx, "GET", "/v1/sites/"+s.id+"/topics/acme/data/records?offset=2&wait=25", nil, &a.page)
		a.at = time.Now()
		done <- a
	}()
	select {
	case a := <-done:
		t.Fatalf("held read answered before any record: %+v, %v", a.page, a.err)
	case <-time.After(time.Second):
	}
	sent := time.Now()
	s.produce(t, "acme/data", 1)
	a := <-done
	if a.err != nil || len(a.page.Records) != 1 || a.page.Records[0].Offset != 2 || a.page.Next != 3 {
		t.Fatalf("held read: %+v, %v; want the record at offset 2", a.page, a.err)
	}
	// The uplink sends a live tail's record at once; 25 s is the wait's
	// end, so anything well below it is a wake-up.
	if d := a.at.Sub(sent); d > 10*time.Second {
		t.Errorf("held read answered %v after the record was produced; want a wake-up, not the wait's end", d)
	}
	t.Logf("record produced to answer at the tower: %v", a.at.Sub(sent))
}
