package tower_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"testing"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/tower/towertest"
)

// A site renews its certificate for its TPM-held key; the old certificate
// works until the new one is first used; a CSR for another key is
// refused.
func TestRenewal(t *testing.T) {
	towertest.RequireIntegration(t)
	tw := towertest.Start(t)
	op := tw.Client(t, "")
	ctx := context.Background()
	mustTenant(t, op, "acme", false)
	tok := mustToken(t, op, towerapi.EnrollTokenCreate{Tenant: "acme"})
	a := tw.NewAgent(t)
	r, err := a.Enroll(ctx, tok.Token)
	res := mustRegistered(t, r, err)
	oldCert, err := a.TLSCertificate(res)
	if err != nil {
		t.Fatal(err)
	}

	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, other)
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Renew(ctx, oldCert, foreign)
	wantRefused(t, tw, err, enrollapi.CodeKeyNotCertified)

	signer, err := a.Signer()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, signer)
	if err != nil {
		t.Fatal(err)
	}
	renewed, err := a.Renew(ctx, oldCert, csr)
	if err != nil {
		t.Fatalf("renew: %v", err)
	}
	newCert, err := a.TLSCertificate(renewed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Report(ctx, oldCert, enrollapi.StatusReport{}); err != nil {
		t.Errorf("old certificate before the new one was used: %v", err)
	}
	if _, err := a.Report(ctx, newCert, enrollapi.StatusReport{}); err != nil {
		t.Errorf("renewed certificate: %v", err)
	}
	_, err = a.Report(ctx, oldCert, enrollapi.StatusReport{})
	wantRefused(t, tw, err, enrollapi.CodeUnauthenticated)
	leaf, _ := x509.ParseCertificate(renewed.Certificate)
	if s := mustSite(t, op, res.SiteID); s.CertificateSerial != leaf.SerialNumber.Text(16) {
		t.Errorf("site's certificate %s, want the renewed %s", s.CertificateSerial, leaf.SerialNumber.Text(16))
	}
}
