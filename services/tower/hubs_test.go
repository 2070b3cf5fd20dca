package tower_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"slices"
	"testing"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/tower"
	"github.com/skerry/skerry/services/tower/towertest"
)

// TestHubsAPI issues a hub certificate for a CSR, checks what it
// certifies, and what the API refuses: bad IDs, hosts and CSRs, an ID
// taken, a caller that is not an operator; the revocation list answers a
// hub certificate only, and names what was revoked.
func TestHubsAPI(t *testing.T) {
	tw := towertest.Start(t, tower.WithUplink("127.0.0.1:0"))
	op := tw.Client(t, "")
	ctx := context.Background()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	var out towerapi.HubCreated
	if err := op.Do(ctx, "POST", "/v1/hubs", towerapi.HubCreate{ID: "region-1", CSR: csr, Hosts: []string{"hub.example", "10.0.2.2"}}, &out); err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(out.Certificate))
	if block == nil {
		t.Fatalf("certificate %q: not PEM", out.Certificate)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "region-1" || !slices.Equal(cert.Subject.OrganizationalUnit, []string{"hub"}) ||
		cert.VerifyHostname("hub.example") != nil || cert.VerifyHostname("10.0.2.2") != nil || !cert.PublicKey.(*ecdsa.PublicKey).Equal(&key.PublicKey) {
		t.Errorf("hub certificate %v OU %v names %v %v: want CN region-1, OU hub, the two hosts, the CSR's key", cert.Subject.CommonName, cert.Subject.OrganizationalUnit, cert.DNSNames, cert.IPAddresses)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(out.CA))
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{u}}); err != nil {
			t.Errorf("hub certificate for usage %v: %v", u, err)
		}
	}

	var adminTok towerapi.OperatorTokenCreated
	if err := op.Do(ctx, "POST", "/v1/tenants", towerapi.Tenant{ID: "acme"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := op.Do(ctx, "POST", "/v1/operator-tokens", towerapi.OperatorTokenCreate{Role: "tenant-admin", Tenant: "acme"}, &adminTok); err != nil {
		t.Fatal(err)
	}
	admin := tw.Client(t, adminTok.Token)
	otherCSR := func() string {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		d, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, k)
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: d}))
	}()
	for _, tc := range []struct {
		name string
		c    *towerapi.Client
		in   towerapi.HubCreate
		code string
	}{
		{"tenant admin", admin, towerapi.HubCreate{ID: "h2", CSR: otherCSR}, enrollapi.CodeForbidden},
		{"id taken", op, towerapi.HubCreate{ID: "region-1", CSR: otherCSR}, enrollapi.CodeConflict},
		{"no id", op, towerapi.HubCreate{CSR: otherCSR}, enrollapi.CodeBadRequest},
		{"id with a slash", op, towerapi.HubCreate{ID: "a/b", CSR: otherCSR}, enrollapi.CodeBadRequest},
		{"host with a space", op, towerapi.HubCreate{ID: "h2", CSR: otherCSR, Hosts: []string{"a b"}}, enrollapi.CodeBadRequest},
		{"no csr", op, towerapi.HubCreate{ID: "h2"}, enrollapi.CodeBadRequest},
		{"csr not pem", op, towerapi.HubCreate{ID: "h2", CSR: "MIIB"}, enrollapi.CodeBadRequest},
		{"csr with a broken signature", op, towerapi.HubCreate{ID: "h2", CSR: tamper(otherCSR)}, enrollapi.CodeBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantRefused(t, tw, tc.c.Do(ctx, "POST", "/v1/hubs", tc.in, nil), tc.code)
		})
	}

	// The revocation list: a hub certificate only, the revoked named.
	hubClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool,
		Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key}}}}}
	get := func() (int, towerapi.Revocations) {
		t.Helper()
		resp, err := hubClient.Get(tw.URL + "/v1/hubs/self/revocations")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var l towerapi.Revocations
		json.NewDecoder(resp.Body).Decode(&l)
		return resp.StatusCode, l
	}
	if code, l := get(); code != http.StatusOK || len(l.Sites) != 0 || len(l.Hubs) != 0 {
		t.Errorf("revocation list: %d %+v, want 200 and empty lists", code, l)
	}
	wantRefused(t, tw, op.Do(ctx, "GET", "/v1/hubs/self/revocations", nil, nil), enrollapi.CodeUnauthenticated)
	var h towerapi.Hub
	if err := op.Do(ctx, "POST", "/v1/hubs/region-1/revoke", nil, &h); err != nil || !h.Revoked {
		t.Fatalf("revoke: %+v, %v", h, err)
	}
	if code, _ := get(); code != http.StatusUnauthorized {
		t.Errorf("revocation list for a revoked hub: %d, want 401", code)
	}
	var hubs towerapi.List[towerapi.Hub]
	if err := op.Do(ctx, "GET", "/v1/hubs", nil, &hubs); err != nil || len(hubs.Items) != 1 || !hubs.Items[0].Revoked || hubs.Items[0].CertificateSerial != cert.SerialNumber.Text(16) {
		t.Errorf("hubs: %+v, %v; want region-1 revoked, with its serial", hubs, err)
	}
	wantRefused(t, tw, op.Do(ctx, "POST", "/v1/hubs/nope/revoke", nil, nil), enrollapi.CodeNotFound)
}

// tamper flips a bit of the signature at the end of a PEM CSR.
func tamper(csr string) string {
	b, _ := pem.Decode([]byte(csr))
	d := append([]byte(nil), b.Bytes...)
	d[len(d)-1] ^= 1
	return string(pem.EncodeToMemory(&pem.Block{Type: b.Type, Bytes: d}))
}
