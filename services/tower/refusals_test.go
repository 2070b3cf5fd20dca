package tower_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http"
	"testing"
	"time"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/tower"
	"github.com/skerry/skerry/services/tower/towertest"
)

// Every refusal of issue 4, each shown refused with its code and a log
// entry, against real swtpm instances.

// An AK from another TPM than the EK: the credential is encrypted to the
// EK, so only that TPM can activate it; the other TPM cannot, and a guess
// is refused. A tampered AK is refused before any challenge.
func TestRefuseAKNotBoundToEK(t *testing.T) {
	towertest.RequireIntegration(t)
	tw := towertest.Start(t)
	ctx := context.Background()
	a, b := tw.NewAgent(t), tw.NewAgent(t)

	t.Run("ak of another tpm", func(t *testing.T) {
		in := a.StartRequest("")
		in.AK = b.StartRequest("").AK // a's EK, b's AK
		ch, err := b.Start(ctx, in)
		if err != nil {
			t.Fatalf("start: %v", err)
		}
		if _, err := b.Answer(ch); err == nil {
			t.Fatal("TPM b activated a credential made for TPM a's EK")
		}
		fin, err := b.CertifiedKey()
		if err != nil {
			t.Fatal(err)
		}
		fin.ChallengeID, fin.ActivatedSecret = ch.ChallengeID, make([]byte, 32)
		_, err = b.Finish(ctx, fin)
		wantRefused(t, tw, err, enrollapi.CodeActivation)
	})
	t.Run("tampered ak", func(t *testing.T) {
		in := a.StartRequest("")
		// Copy: the parameters share memory with the AK's own.
		in.AK.CreateAttestation = append([]byte(nil), in.AK.CreateAttestation...)
		in.AK.CreateAttestation[len(in.AK.CreateAttestation)-1] ^= 1
		_, err := a.Start(ctx, in)
		wantRefused(t, tw, err, enrollapi.CodeAKInvalid)
	})
	t.Run("key certified by another ak", func(t *testing.T) {
		ch, err := a.Start(ctx, a.StartRequest(""))
		if err != nil {
			t.Fatal(err)
		}
		fin, err := a.Answer(ch)
		if err != nil {
			t.Fatal(err)
		}
		other, err := b.CertifiedKey()
		if err != nil {
			t.Fatal(err)
		}
		fin.Key, fin.CSR = other.Key, other.CSR
		_, err = a.Finish(ctx, fin)
		wantRefused(t, tw, err, enrollapi.CodeKeyNotCertified)
	})
	t.Run("csr for another key", func(t *testing.T) {
		ch, err := a.Start(ctx, a.StartRequest(""))
		if err != nil {
			t.Fatal(err)
		}
		fin, err := a.Answer(ch)
		if err != nil {
			t.Fatal(err)
		}
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		fin.CSR, _ = x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, k)
		_, err = a.Finish(ctx, fin)
		wantRefused(t, tw, err, enrollapi.CodeKeyNotCertified)
	})
}

func TestRefuseReplayedOrExpiredActivation(t *testing.T) {
	towertest.RequireIntegration(t)
	clk := newClock()
	tw := towertest.Start(t, tower.WithClock(clk.Now))
	ctx := context.Background()
	a := tw.NewAgent(t)

	ch, err := a.Start(ctx, a.StartRequest(""))
	if err != nil {
		t.Fatal(err)
	}
	fin, err := a.Answer(ch)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := a.Finish(ctx, fin); err != nil || res.Status != enrollapi.StatusPending {
		t.Fatalf("first finish: got %+v, %v; want pending", res, err)
	}
	_, err = a.Finish(ctx, fin)
	wantRefused(t, tw, err, enrollapi.CodeChallengeUsed)

	ch, err = a.Start(ctx, a.StartRequest(""))
	if err != nil {
		t.Fatal(err)
	}
	fin, err = a.Answer(ch)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(5*time.Minute + time.Second)
	_, err = a.Finish(ctx, fin)
	wantRefused(t, tw, err, enrollapi.CodeChallengeExpired)

	fin.ChallengeID = "ch-0000000000000000"
	_, err = a.Finish(ctx, fin)
	wantRefused(t, tw, err, enrollapi.CodeChallengeUnknown)
}

func TestRefuseTokens(t *testing.T) {
	towertest.RequireIntegration(t)
	clk := newClock()
	tw := towertest.Start(t, tower.WithClock(clk.Now))
	c := tw.Client(t, "")
	ctx := context.Background()
	mustTenant(t, c, "acme", false)
	once := mustToken(t, c, towerapi.EnrollTokenCreate{Tenant: "acme", MaxUses: 1})
	revoked := mustToken(t, c, towerapi.EnrollTokenCreate{Tenant: "acme"})
	if err := c.Do(ctx, "POST", "/v1/enrollment-tokens/"+revoked.ID+"/revoke", nil, nil); err != nil {
		t.Fatal(err)
	}
	expiring := mustToken(t, c, towerapi.EnrollTokenCreate{Tenant: "acme", TTLSeconds: 60})

	a, b := tw.NewAgent(t), tw.NewAgent(t)
	res, err := a.Enroll(ctx, once.Token)
	mustRegistered(t, res, err)

	tests := []struct {
		name, token, code string
	}{
		{"unknown", "sken_not-a-token-this-tower-made", enrollapi.CodeTokenUnknown},
		{"revoked", revoked.Token, enrollapi.CodeTokenRevoked},
		{"used up", once.Token, enrollapi.CodeTokenUsedUp},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.Enroll(ctx, tc.token)
			wantRefused(t, tw, err, tc.code)
		})
	}
	t.Run("expired", func(t *testing.T) {
		clk.Advance(61 * time.Second)
		_, err := b.Enroll(ctx, expiring.Token)
		wantRefused(t, tw, err, enrollapi.CodeTokenExpired)
	})
	t.Run("revoked between start and finish", func(t *testing.T) {
		tok := mustToken(t, c, towerapi.EnrollTokenCreate{Tenant: "acme"})
		ch, err := b.Start(ctx, b.StartRequest(tok.Token))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Do(ctx, "POST", "/v1/enrollment-tokens/"+tok.ID+"/revoke", nil, nil); err != nil {
			t.Fatal(err)
		}
		fin, err := b.Answer(ch)
		if err != nil {
			t.Fatal(err)
		}
		_, err = b.Finish(ctx, fin)
		wantRefused(t, tw, err, enrollapi.CodeTokenRevoked)
	})
}

// A second enrollment presenting an EK that a site holds is refused, until
// an operator allows that site one re-enrollment; the old certificate then
// stops working.
func TestRefuseEKAlreadyRegistered(t *testing.T) {
	towertest.RequireIntegration(t)
	tw := towertest.Start(t)
	c := tw.Client(t, "")
	ctx := context.Background()
	mustTenant(t, c, "acme", false)
	tok := mustToken(t, c, towerapi.EnrollTokenCreate{Tenant: "acme"})

	swtpm := towertest.NewSWTPM(t)
	first := tw.AgentOn(t, swtpm)
	res, err := first.Enroll(ctx, tok.Token)
	res = mustRegistered(t, res, err)
	oldKey, err := first.Key.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	first.Close() // swtpm serves one connection at a time

	second := tw.AgentOn(t, swtpm) // same EK, new AK: the box after losing /perm
	_, err = second.Enroll(ctx, tok.Token)
	wantRefused(t, tw, err, enrollapi.CodeEKRegistered)

	if err := c.Do(ctx, "POST", "/v1/sites/"+res.SiteID+"/allow-reenroll", nil, nil); err != nil {
		t.Fatal(err)
	}
	again, err := second.Enroll(ctx, tok.Token)
	again = mustRegistered(t, again, err)
	if again.SiteID != res.SiteID {
		t.Errorf("re-enrollment: got site %s, want the same site %s", again.SiteID, res.SiteID)
	}
	newCert, err := second.TLSCertificate(again)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := second.Report(ctx, newCert, enrollapi.StatusReport{}); err != nil {
		t.Errorf("report with the new certificate: %v", err)
	}
	// Refused at finish, once the box proved its EK: that makes a new key.
	_, err = second.Enroll(ctx, tok.Token)
	wantRefused(t, tw, err, enrollapi.CodeEKRegistered) // permission is for once
	// swtpm holds three transient objects: drop the new key for the old.
	second.Key.Close()
	second.Key = nil
	oldCert := loadCert(t, second, oldKey, res.Certificate)
	_, err = second.Report(ctx, oldCert, enrollapi.StatusReport{})
	wantRefused(t, tw, err, enrollapi.CodeUnauthenticated)
}

// A site certificate acts only as its own site: the status endpoint takes
// the site from the verified certificate, the operator API refuses site
// certificates, and a certificate naming another site but not from the
// tower CA fails the TLS handshake.
func TestRefuseSiteActingAsAnother(t *testing.T) {
	towertest.RequireIntegration(t)
	tw := towertest.Start(t)
	c := tw.Client(t, "")
	ctx := context.Background()
	mustTenant(t, c, "acme", false)
	tok := mustToken(t, c, towerapi.EnrollTokenCreate{Tenant: "acme"})
	a, b := tw.NewAgent(t), tw.NewAgent(t)
	ra, err := a.Enroll(ctx, tok.Token)
	ra = mustRegistered(t, ra, err)
	rb, err := b.Enroll(ctx, tok.Token)
	rb = mustRegistered(t, rb, err)
	certA, err := a.TLSCertificate(ra)
	if err != nil {
		t.Fatal(err)
	}

	if _, err := a.Report(ctx, certA, enrollapi.StatusReport{BootID: "a"}); err != nil {
		t.Fatal(err)
	}
	if got := mustSite(t, c, rb.SiteID); !got.LastSeen.IsZero() {
		t.Errorf("site b last seen %v after only a reported", got.LastSeen)
	}

	// The operator API with a's certificate and no token.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: a.CAPool, Certificates: []tls.Certificate{certA}}}}
	_, err = towertest.Post(ctx, hc, tw.URL+"/v1/sites/"+rb.SiteID+"/revoke", struct{}{}, nil)
	wantRefused(t, tw, err, enrollapi.CodeUnauthenticated)

	// A self-made certificate that names site b.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: rb.SiteID},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	forged := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	// GetClientCertificate sends it although the tower asks for its own
	// CA's certificates, as an attacker would.
	hc = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: a.CAPool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &forged, nil }}}}
	if _, err := towertest.Post(ctx, hc, tw.URL+enrollapi.PathStatus, enrollapi.StatusReport{}, nil); err == nil {
		t.Error("a certificate from another CA was accepted")
	}
	if len(tw.Log.WaitLines(10*time.Second, "TLS handshake error")) == 0 {
		t.Errorf("no log entry for the refused handshake; log:\n%s", tw.Log.String())
	}
}

func TestRefuseRevokedSite(t *testing.T) {
	towertest.RequireIntegration(t)
	tw := towertest.Start(t)
	c := tw.Client(t, "")
	ctx := context.Background()
	mustTenant(t, c, "acme", false)
	tok := mustToken(t, c, towerapi.EnrollTokenCreate{Tenant: "acme"})
	swtpm := towertest.NewSWTPM(t)
	a := tw.AgentOn(t, swtpm)
	res, err := a.Enroll(ctx, tok.Token)
	res = mustRegistered(t, res, err)
	cert, err := a.TLSCertificate(res)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "POST", "/v1/sites/"+res.SiteID+"/revoke", nil, nil); err != nil {
		t.Fatal(err)
	}
	_, err = a.Report(ctx, cert, enrollapi.StatusReport{})
	wantRefused(t, tw, err, enrollapi.CodeSiteRevoked)
	_, err = a.Enroll(ctx, tok.Token)
	wantRefused(t, tw, err, enrollapi.CodeSiteRevoked)
	if site := mustSite(t, c, res.SiteID); site.State != towerapi.SiteRevoked {
		t.Errorf("revoked site: got state %s, want revoked", site.State)
	}
	err = c.Do(ctx, "POST", "/v1/sites/"+res.SiteID+"/allow-reenroll", nil, nil)
	wantRefused(t, tw, err, enrollapi.CodeSiteRevoked)
}

// loadCert loads a marshalled TPM key into agent's TPM and pairs it with a
// certificate.
func loadCert(t *testing.T, a *towertest.Agent, blob, cert []byte) tls.Certificate {
	t.Helper()
	k, err := a.TPM.LoadKey(blob)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	priv, err := k.Private(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{cert}, PrivateKey: priv}
}
