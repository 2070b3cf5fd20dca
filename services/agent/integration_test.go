package agent

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/siteconfig"
	"github.com/skerry/skerry/services/tower"
	"github.com/skerry/skerry/services/tower/towertest"
)

// realTower is the tower, in process, with its own store and CA, served
// over TLS on loopback as it would be on a host.
type realTower struct {
	url string
	ca  []byte
	api *towerapi.Client
}

func startRealTower(t *testing.T, opts ...tower.Option) *realTower {
	t.Helper()
	real := towertest.Start(t, append([]tower.Option{tower.WithReportInterval(time.Second)}, opts...)...)
	tw := &realTower{url: real.URL, ca: real.CAPEM, api: real.Client(t, "")}
	// Acme takes software identities too: a TPM without a certificate
	// from the test maker is one.
	tw.do(t, "POST", "/v1/tenants", towerapi.Tenant{ID: "acme", Name: "Acme", AllowSoftwareIdentity: true}, nil)
	return tw
}

func (tw *realTower) do(t *testing.T, method, path string, in, out any) {
	t.Helper()
	if err := tw.api.Do(context.Background(), method, path, in, out); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
}

func (tw *realTower) config(token string) siteconfig.Tower {
	return siteconfig.Tower{URL: tw.url, CA: string(tw.ca), EnrollmentToken: token}
}

func (tw *realTower) sites(t *testing.T) []towerapi.Site {
	t.Helper()
	var l towerapi.List[towerapi.Site]
	tw.do(t, "GET", "/v1/sites", nil, &l)
	return l.Items
}

func (tw *realTower) pending(t *testing.T) []towerapi.Pending {
	t.Helper()
	var l towerapi.List[towerapi.Pending]
	tw.do(t, "GET", "/v1/pending", nil, &l)
	return l.Items
}

// onlineSite returns the only site once it is online.
func (tw *realTower) onlineSite(t *testing.T, a *running) towerapi.Site {
	t.Helper()
	var s towerapi.Site
	a.wait(t, "the tower shows one site online", func() bool {
		ss := tw.sites(t)
		if len(ss) == 1 && ss[0].Online {
			s = ss[0]
			return true
		}
		return false
	})
	return s
}

// TestWithTower runs the agent against the real tower and a real software
// TPM: token enrollment, a reboot that reuses the identity, and the
// pending queue with an operator's approval.
func TestWithTower(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ekCert bool
	}{
		{name: "token then reboot", ekCert: false},
		{name: "token then reboot with EK certificate", ekCert: true},
	} {
		t.Run(tc.name, func(t *testing.T) { testTokenReboot(t, tc.ekCert) })
	}
	t.Run("pending then approved", testPendingApproved)
	t.Run("lost identity", testLostIdentity)
	t.Run("certificate renewal", testRenewal)
}

// testTokenReboot: a box with a token registers at once; after a reboot it
// is the same site, with no new enrollment.
func testTokenReboot(t *testing.T, ekCert bool) {
	tw := startRealTower(t)
	var tok towerapi.EnrollTokenCreated
	tw.do(t, "POST", "/v1/enrollment-tokens", towerapi.EnrollTokenCreate{Tenant: "acme", MaxUses: 5}, &tok)
	home := t.TempDir()
	sw := newSWTPM(t, ekCert)
	a := startAgent(t, tw.config(tok.Token), WithHome(home), WithTPM(sw.Path()))
	first := tw.onlineSite(t, a)
	a.stop(t)
	id, err := LoadIdentity(home)
	if err != nil {
		t.Fatal(err)
	}
	// Only an EK certificate from a trusted maker makes a hardware
	// identity.
	if first.ID != id.SiteID || first.Tenant != "acme" || first.SoftwareIdentity == ekCert || first.AgentVersion != "test" {
		t.Errorf("site: got %+v, want %s in acme, software identity %v, agent version test", first, id.SiteID, !ekCert)
	}
	if !a.log.has("registered as site " + first.ID) {
		t.Errorf("log lacks the registration:\n%s", a.log)
	}

	sw = reboot(t, sw) // the box reboots
	b := startAgent(t, tw.config(tok.Token), WithHome(home), WithTPM(sw.Path()))
	b.wait(t, "a report from the second boot", func() bool {
		ss := tw.sites(t)
		return len(ss) == 1 && ss[0].LastSeen.After(first.LastSeen) && ss[0].Online
	})
	again := tw.sites(t)[0]
	if again.ID != first.ID || !again.EnrolledAt.Equal(first.EnrolledAt) || again.CertificateSerial != first.CertificateSerial {
		t.Errorf("after reboot: site %s enrolled %v cert %s, want %s %v %s (no new enrollment)",
			again.ID, again.EnrolledAt, again.CertificateSerial, first.ID, first.EnrolledAt, first.CertificateSerial)
	}
	var used towerapi.EnrollToken
	tw.do(t, "GET", "/v1/enrollment-tokens/"+tok.ID, nil, &used)
	if used.Uses != 1 {
		t.Errorf("token uses: got %d, want 1", used.Uses)
	}
	if b.log.has("enrolling with") {
		t.Errorf("second boot enrolled:\n%s", b.log)
	}
}

// testPendingApproved: a box with neither claim nor token waits in the
// pending queue, saying so, until an operator approves it.
func testPendingApproved(t *testing.T) {
	tw := startRealTower(t)
	sw := newSWTPM(t, false)
	a := startAgent(t, tw.config(""), WithHome(t.TempDir()), WithTPM(sw.Path()), WithHostname("box-7"))
	var p towerapi.Pending
	a.wait(t, "the box is in the pending queue", func() bool {
		ps := tw.pending(t)
		if len(ps) == 1 {
			p = ps[0]
			return true
		}
		return false
	})
	if p.Hostname != "box-7" {
		t.Errorf("pending hostname: got %q, want box-7", p.Hostname)
	}
	a.wait(t, "the agent says it is pending", func() bool {
		return a.log.has(fmt.Sprintf("pending operator approval (EK sha256 %s…)", p.EKHash[:16]))
	})
	if ss := tw.sites(t); len(ss) != 0 {
		t.Fatalf("sites while pending: %+v", ss)
	}
	tw.do(t, "POST", "/v1/pending/"+p.EKHash+"/approve", towerapi.Approve{Tenant: "acme", SiteName: "box-7"}, nil)
	s := tw.onlineSite(t, a)
	if s.Name != "box-7" || s.EKHash != p.EKHash {
		t.Errorf("site: got name %q EK %s, want box-7 %s", s.Name, s.EKHash, p.EKHash)
	}
}

// testLostIdentity: a registered box whose /perm was wiped enrolls again;
// the tower refuses a second identity for its EK until an operator allows
// it, and the agent, asking again slowly, then gets the same site back.
func testLostIdentity(t *testing.T) {
	tw := startRealTower(t)
	var tok towerapi.EnrollTokenCreated
	tw.do(t, "POST", "/v1/enrollment-tokens", towerapi.EnrollTokenCreate{Tenant: "acme"}, &tok)
	sw := newSWTPM(t, false)
	a := startAgent(t, tw.config(tok.Token), WithHome(t.TempDir()), WithTPM(sw.Path()))
	first := tw.onlineSite(t, a)
	a.stop(t)

	b := startAgent(t, tw.config(tok.Token), WithHome(t.TempDir()), WithTPM(sw.Path()))
	b.wait(t, "the agent reports the refusal", func() bool { return b.log.has("ek_registered") })
	if !b.log.has("skerryctl tower sites reenroll " + first.ID) {
		t.Errorf("the log does not carry the tower's advice:\n%s", b.log)
	}
	tw.do(t, "POST", "/v1/sites/"+first.ID+"/allow-reenroll", nil, nil)
	b.wait(t, "registered again", func() bool { return b.log.has(`msg="registered as site ` + first.ID) })
	if ss := tw.sites(t); len(ss) != 1 || ss[0].ID != first.ID || ss[0].CertificateSerial == first.CertificateSerial {
		t.Errorf("sites after re-enrollment: %+v; want %s alone, with a new certificate", ss, first.ID)
	}
}

// testRenewal: with certificates valid for seconds, the agent renews its
// certificate with the TPM-held key before it expires, keeps it, and goes
// on reporting long after the first certificate expired (issue 11.6).
func testRenewal(t *testing.T) {
	const validity = 3 * time.Second
	tw := startRealTower(t, tower.WithSiteCertValidity(validity))
	var tok towerapi.EnrollTokenCreated
	tw.do(t, "POST", "/v1/enrollment-tokens", towerapi.EnrollTokenCreate{Tenant: "acme"}, &tok)
	home := t.TempDir()
	sw := newSWTPM(t, true)
	a := startAgent(t, tw.config(tok.Token), WithHome(home), WithTPM(sw.Path()))
	first := tw.onlineSite(t, a)
	a.wait(t, "the certificate renewed", func() bool { return a.log.has("certificate renewed") })
	// Past the first certificate's end, the site still reports.
	time.Sleep(time.Until(first.CertificateNotAfter) + 2*time.Second)
	seen := time.Now()
	a.wait(t, "a report after the first certificate expired", func() bool {
		var s towerapi.Site
		tw.do(t, "GET", "/v1/sites/"+first.ID, nil, &s)
		return s.LastSeen.After(seen) && s.CertificateSerial != first.CertificateSerial
	})
	id, err := LoadIdentity(home)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := id.Cert()
	if err != nil {
		t.Fatal(err)
	}
	if cert.SerialNumber.Text(16) == first.CertificateSerial || !cert.NotAfter.After(first.CertificateNotAfter) {
		t.Errorf("kept certificate %s until %v: want a renewed one, later than %s until %v", cert.SerialNumber.Text(16), cert.NotAfter, first.CertificateSerial, first.CertificateNotAfter)
	}
	if a.log.has("reporting status to") && a.log.has("failed") {
		t.Errorf("a report failed across renewals:\n%s", a.log)
	}
}
