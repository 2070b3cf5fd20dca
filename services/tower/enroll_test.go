package tower_test

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/tower"
	"github.com/skerry/skerry/services/tower/towertest"
)

// These tests enroll real software TPMs (one swtpm each) with a real tower
// on a loopback TLS port. swtpm's EKs have no certificate; the tower in
// this version records EK certificates but does not require them.

func TestEnrollTokenThenReportStatus(t *testing.T) {
	towertest.RequireIntegration(t)
	clk := newClock()
	tw := towertest.Start(t, tower.WithClock(clk.Now), tower.WithReportInterval(10*time.Second))
	c := tw.Client(t, "")
	ctx := context.Background()
	mustTenant(t, c, "acme", false)
	tok := mustToken(t, c, towerapi.EnrollTokenCreate{Tenant: "acme", MaxUses: 2, Labels: map[string]string{"region": "north"}})

	a := tw.NewAgent(t)
	res, err := a.Enroll(ctx, tok.Token)
	res = mustRegistered(t, res, err)
	cert, err := x509.ParseCertificate(res.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != res.SiteID {
		t.Errorf("certificate CN: got %q, want site ID %q", cert.Subject.CommonName, res.SiteID)
	}
	if res.ReportIntervalSeconds != 10 {
		t.Errorf("report interval: got %d, want 10", res.ReportIntervalSeconds)
	}

	site := mustSite(t, c, res.SiteID)
	want := towerapi.Site{ID: res.SiteID, Name: "box", Tenant: "acme", Labels: map[string]string{"region": "north"},
		EKHash: a.EKHash(), Hostname: "box", EnrolledVia: "token:" + tok.ID, State: towerapi.SiteNeverReported,
		AgentVersion: "test", ImageVersion: "test", CertificateSerial: cert.SerialNumber.Text(16)}
	ignore := func(s towerapi.Site) towerapi.Site {
		s.EnrolledAt, s.CertificateNotAfter = time.Time{}, time.Time{}
		return s
	}
	if diff := cmp.Diff(want, ignore(site)); diff != "" {
		t.Errorf("site after enrollment (-want +got):\n%s", diff)
	}

	tlsCert, err := a.TLSCertificate(res)
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := a.Report(ctx, tlsCert, enrollapi.StatusReport{AgentVersion: "1.1", ImageVersion: "v2", UptimeSeconds: 5, BootID: "b1"})
	if err != nil {
		t.Fatalf("status report: %v", err)
	}
	if got := hdr.Get(enrollapi.HeaderReportInterval); got != "10" {
		t.Errorf("%s: got %q, want 10", enrollapi.HeaderReportInterval, got)
	}
	site = mustSite(t, c, res.SiteID)
	if !site.Online || site.State != towerapi.SiteOnline || site.AgentVersion != "1.1" || site.BootID != "b1" {
		t.Errorf("after a report: got %+v, want online with agent 1.1, boot b1", site)
	}
	clk.Advance(31 * time.Second) // three intervals and a bit
	if site = mustSite(t, c, res.SiteID); site.Online || site.State != towerapi.SiteOffline {
		t.Errorf("after 3 silent intervals: got state %s, want offline", site.State)
	}

	var tokAfter towerapi.EnrollToken
	if err := c.Do(ctx, "GET", "/v1/enrollment-tokens/"+tok.ID, nil, &tokAfter); err != nil {
		t.Fatal(err)
	}
	if tokAfter.Uses != 1 {
		t.Errorf("token uses: got %d, want 1", tokAfter.Uses)
	}
}

func TestEnrollByClaim(t *testing.T) {
	towertest.RequireIntegration(t)
	tw := towertest.Start(t)
	c := tw.Client(t, "")
	ctx := context.Background()
	mustTenant(t, c, "acme", false)
	a := tw.NewAgent(t)
	claim := towerapi.ClaimCreate{EKHash: a.EKHash(), Tenant: "acme", SiteName: "store-12", Labels: map[string]string{"k": "v"}}
	if err := c.Do(ctx, "POST", "/v1/claims", claim, nil); err != nil {
		t.Fatal(err)
	}
	// A claim wins over a token, and does not spend it.
	res, err := a.Enroll(ctx, "")
	res = mustRegistered(t, res, err)
	site := mustSite(t, c, res.SiteID)
	if site.Name != "store-12" || site.Tenant != "acme" || site.Labels["k"] != "v" || site.EnrolledVia != "claim" {
		t.Errorf("claimed site: got %+v, want acme/store-12 by claim", site)
	}
	var claims towerapi.List[towerapi.Claim]
	if err := c.Do(ctx, "GET", "/v1/claims", nil, &claims); err != nil {
		t.Fatal(err)
	}
	if len(claims.Items) != 1 || claims.Items[0].UsedBy != res.SiteID {
		t.Errorf("claims: got %+v, want one used by %s", claims.Items, res.SiteID)
	}
}

func TestEnrollPendingApproveReject(t *testing.T) {
	towertest.RequireIntegration(t)
	tw := towertest.Start(t)
	c := tw.Client(t, "")
	ctx := context.Background()
	mustTenant(t, c, "acme", false)

	a, b := tw.NewAgent(t), tw.NewAgent(t)
	for _, ag := range []*towertest.Agent{a, b} {
		res, err := ag.Enroll(ctx, "")
		if err != nil || res.Status != enrollapi.StatusPending || res.RetryAfterSeconds == 0 {
			t.Fatalf("enroll without claim or token: got %+v, %v; want pending with a retry delay", res, err)
		}
	}
	var pending towerapi.List[towerapi.Pending]
	if err := c.Do(ctx, "GET", "/v1/pending", nil, &pending); err != nil {
		t.Fatal(err)
	}
	if len(pending.Items) != 2 {
		t.Fatalf("pending: got %d entries, want 2", len(pending.Items))
	}
	// Pending repeats; the queue keeps one entry per EK.
	if res, err := a.Enroll(ctx, ""); err != nil || res.Status != enrollapi.StatusPending {
		t.Fatalf("second attempt: got %+v, %v; want pending", res, err)
	}

	if err := c.Do(ctx, "POST", "/v1/pending/"+a.EKHash()+"/approve", towerapi.Approve{Tenant: "acme", SiteName: "lab-1"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "POST", "/v1/pending/"+b.EKHash()+"/reject", nil, nil); err != nil {
		t.Fatal(err)
	}
	res, err := a.Enroll(ctx, "")
	res = mustRegistered(t, res, err)
	if site := mustSite(t, c, res.SiteID); site.Name != "lab-1" || site.EnrolledVia != "approval" {
		t.Errorf("approved site: got %s via %s, want lab-1 via approval", site.Name, site.EnrolledVia)
	}
	if res, err := b.Enroll(ctx, ""); err != nil || res.Status != enrollapi.StatusRejected {
		t.Errorf("rejected box: got %+v, %v; want rejected", res, err)
	}
	if err := c.Do(ctx, "GET", "/v1/pending", nil, &pending); err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, p := range pending.Items {
		states = append(states, p.State)
	}
	if diff := cmp.Diff([]string{"rejected"}, states); diff != "" {
		t.Errorf("pending after approval (-want +got):\n%s", diff)
	}
}

func TestEnrollSoftwareIdentity(t *testing.T) {
	tw := towertest.Start(t)
	c := tw.Client(t, "")
	ctx := context.Background()
	mustTenant(t, c, "strict", false)
	mustTenant(t, c, "lenient", true)
	strict := mustToken(t, c, towerapi.EnrollTokenCreate{Tenant: "strict"})
	lenient := mustToken(t, c, towerapi.EnrollTokenCreate{Tenant: "lenient"})

	sw := towertest.NewSoftwareAgent(t, tw.URL, tw.CAPEM)
	_, err := sw.Enroll(ctx, "")
	wantRefused(t, tw, err, enrollapi.CodeSoftwareNotOK)
	_, err = sw.Enroll(ctx, strict.Token)
	wantRefused(t, tw, err, enrollapi.CodeSoftwareNotOK)

	res, err := sw.Enroll(ctx, lenient.Token)
	res = mustRegistered(t, res, err)
	if !res.Software {
		t.Errorf("enroll result: software flag not set")
	}
	if site := mustSite(t, c, res.SiteID); !site.SoftwareIdentity || site.EKHash != "" {
		t.Errorf("software site: got softwareIdentity=%v ekHash=%q, want true and none", site.SoftwareIdentity, site.EKHash)
	}
}
