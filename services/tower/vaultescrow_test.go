package tower_test

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-attestation/attest"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/tower"
	"github.com/skerry/skerry/services/tower/towertest"
)

// unsealSite is an enrolled site with real swtpm, speaking the remote
// unseal protocol by hand so the test can replay and swap requests.
type unsealSite struct {
	*towertest.Agent
	id   string
	cert tls.Certificate
	key  []byte // the master key it escrowed
}

var sealedPCRs = []int{0, 2, 4, 7, 8, 9, 12}

func enrollUnsealSite(t *testing.T, tw *towertest.Tower, token string) *unsealSite {
	t.Helper()
	a := tw.NewAgent(t)
	res, err := a.Enroll(context.Background(), token)
	res = mustRegistered(t, res, err)
	cert, err := a.TLSCertificate(res)
	if err != nil {
		t.Fatal(err)
	}
	return &unsealSite{Agent: a, id: res.SiteID, cert: cert}
}

func (s *unsealSite) do(t *testing.T, method, path string, in, out any) error {
	t.Helper()
	var body bytes.Buffer
	if in != nil {
		json.NewEncoder(&body).Encode(in)
	}
	req, _ := http.NewRequest(method, s.URL+path, &body)
	req.Header.Set("Content-Type", "application/json")
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: s.CAPool, Certificates: []tls.Certificate{s.cert}, MinVersion: tls.VersionTLS12}}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		e := &enrollapi.Error{}
		json.NewDecoder(resp.Body).Decode(e)
		return e
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

// escrow seals a fresh key to the tower's escrow key, as the vault does,
// and stores it at the tower as the agent does.
func (s *unsealSite) escrow(t *testing.T) {
	t.Helper()
	var k enrollapi.VaultEscrowKey
	if err := s.do(t, "GET", enrollapi.PathVaultEscrowKey, nil, &k); err != nil {
		t.Fatal(err)
	}
	s.key = make([]byte, 32)
	rand.Read(s.key)
	blob := sealTo(t, k.PublicKey, s.id, s.key)
	if err := s.do(t, "POST", enrollapi.PathVaultEscrow, s.escrowBody(blob), nil); err != nil {
		t.Fatalf("escrow: %v", err)
	}
}

func (s *unsealSite) escrowBody(blob []byte) enrollapi.VaultEscrow {
	der, _ := x509.MarshalPKIXPublicKey(s.EK.Public)
	return enrollapi.VaultEscrow{Blob: blob, Generation: 1, EKPublic: der, AK: enrollapi.AttestationParametersFrom(s.AK.AttestationParameters())}
}

func sealTo(t *testing.T, pub []byte, site string, key []byte) []byte {
	t.Helper()
	pk, err := hpke.DHKEM(ecdh.X25519()).NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := hpke.Seal(pk, hpke.HKDFSHA256(), hpke.AES256GCM(), enrollapi.VaultEscrowInfo(site), key)
	if err != nil {
		t.Fatal(err)
	}
	return blob
}

// request gets a nonce and quotes the PCRs over it with the site's AK.
func (s *unsealSite) request(t *testing.T) enrollapi.VaultUnseal {
	t.Helper()
	var n enrollapi.VaultNonce
	if err := s.do(t, "POST", enrollapi.PathVaultNonce, struct{}{}, &n); err != nil {
		t.Fatalf("nonce: %v", err)
	}
	q, err := s.AK.Quote(s.TPM, n.Nonce, attest.HashSHA256)
	if err != nil {
		t.Fatal(err)
	}
	pcrs, err := s.TPM.PCRs(attest.HashSHA256)
	if err != nil {
		t.Fatal(err)
	}
	in := enrollapi.VaultUnseal{Nonce: n.Nonce, Quote: q.Quote, Signature: q.Signature, SealedPCRs: sealedPCRs, ChangedPCRs: []int{12}}
	for _, p := range pcrs {
		in.PCRs = append(in.PCRs, enrollapi.VaultPCR{Index: p.Index, SHA256: p.Digest})
	}
	return in
}

func (s *unsealSite) ask(t *testing.T, in enrollapi.VaultUnseal) (enrollapi.VaultUnsealResult, error) {
	t.Helper()
	var out enrollapi.VaultUnsealResult
	err := s.do(t, "POST", enrollapi.PathVaultUnseal, in, &out)
	return out, err
}

// TestVaultRemoteUnseal runs the remote unseal with real swtpm TPMs and
// each refusal: pending until approved, released once and only to the
// TPM it is bound to, replays and another site's requests refused, a
// refused request refused, a PCR approval releasing with no person, an
// expired nonce, and a revoked site.
func TestVaultRemoteUnseal(t *testing.T) {
	towertest.RequireIntegration(t)
	clk := newClock()
	tw := towertest.Start(t, tower.WithClock(clk.Now))
	c := tw.Client(t, "")
	ctx := context.Background()
	mustTenant(t, c, "acme", false)
	tok := mustToken(t, c, towerapi.EnrollTokenCreate{Tenant: "acme", MaxUses: 2})
	a := enrollUnsealSite(t, tw, tok.Token)
	b := enrollUnsealSite(t, tw, tok.Token)

	// No escrow yet: nothing to release.
	_, err := a.ask(t, a.request(t))
	wantRefused(t, tw, err, enrollapi.CodeNoEscrow)

	a.escrow(t)
	// B cannot store A's blob as its own: the blob is bound to A's ID.
	var k enrollapi.VaultEscrowKey
	b.do(t, "GET", enrollapi.PathVaultEscrowKey, nil, &k)
	err = b.do(t, "POST", enrollapi.PathVaultEscrow, b.escrowBody(sealTo(t, k.PublicKey, a.id, a.key)), nil)
	wantRefused(t, tw, err, enrollapi.CodeBadRequest)
	// Nor claim A's EK.
	body := a.escrowBody(sealTo(t, k.PublicKey, b.id, a.key))
	err = b.do(t, "POST", enrollapi.PathVaultEscrow, body, nil)
	wantRefused(t, tw, err, enrollapi.CodeForbidden)
	b.escrow(t)

	// Not approved: pending, no key.
	first := a.request(t)
	res, err := a.ask(t, first)
	if err != nil || res.State != enrollapi.UnsealPending || len(res.Credential) != 0 {
		t.Fatalf("first ask: got %+v, %v; want pending with no credential", res, err)
	}
	// The same request again (a replayed nonce and quote).
	_, err = a.ask(t, first)
	wantRefused(t, tw, err, enrollapi.CodeNonceUsed)
	// B sends A's fresh request: A's nonce is unknown to B.
	fresh := a.request(t)
	_, err = b.ask(t, fresh)
	wantRefused(t, tw, err, enrollapi.CodeNonceUnknown)
	// B with its own nonce but A's quote: the quote is not B's AK's.
	stolen := b.request(t)
	stolen.Quote, stolen.Signature, stolen.PCRs = fresh.Quote, fresh.Signature, fresh.PCRs
	_, err = b.ask(t, stolen)
	wantRefused(t, tw, err, enrollapi.CodeQuoteInvalid)

	var list towerapi.List[towerapi.UnsealRequest]
	if err := c.Do(ctx, "GET", "/v1/vault/requests?state=pending", nil, &list); err != nil || len(list.Items) != 1 || list.Items[0].Site != a.id {
		t.Fatalf("pending requests: got %+v, %v; want A's", list.Items, err)
	}
	if err := c.Do(ctx, "POST", "/v1/vault/requests/"+res.Request+"/approve", struct{}{}, nil); err != nil {
		t.Fatal(err)
	}
	rel, err := a.ask(t, a.request(t))
	if err != nil || rel.State != enrollapi.UnsealReleased {
		t.Fatalf("ask after approval: got %+v, %v; want released", rel, err)
	}
	cred := attest.EncryptedCredential{Credential: rel.Credential, Secret: rel.Secret}
	// Only A's TPM opens it.
	if _, err := b.AK.ActivateCredentialWithEK(b.TPM, cred, b.EK); err == nil {
		t.Error("B's TPM activated the key released to A")
	}
	got, err := a.AK.ActivateCredentialWithEK(a.TPM, cred, a.EK)
	if err != nil || !bytes.Equal(got, a.key) {
		t.Fatalf("activate in A's TPM: got %x, %v; want the escrowed key", got, err)
	}
	// Approved once means once.
	if again, err := a.ask(t, a.request(t)); err != nil || again.State != enrollapi.UnsealPending {
		t.Fatalf("ask after release: got %+v, %v; want pending", again, err)
	}

	// Refused by an operator.
	if err := c.Do(ctx, "POST", "/v1/vault/requests/"+res.Request+"/refuse", struct{}{}, nil); err != nil {
		t.Fatal(err)
	}
	_, err = a.ask(t, a.request(t))
	wantRefused(t, tw, err, enrollapi.CodeUnsealRefused)

	// Approve B's values for the tenant (an image version): B is released
	// with no decision on its own request.
	bres, err := b.ask(t, b.request(t))
	if err != nil || bres.State != enrollapi.UnsealPending {
		t.Fatalf("B's first ask: got %+v, %v; want pending", bres, err)
	}
	var appr towerapi.PCRApproval
	if err := c.Do(ctx, "POST", "/v1/vault/pcr-approvals", towerapi.PCRApprovalCreate{Tenant: "acme", ImageVersion: "v2", FromRequest: bres.Request}, &appr); err != nil {
		t.Fatal(err)
	}
	if rel, err := b.ask(t, b.request(t)); err != nil || rel.State != enrollapi.UnsealReleased {
		t.Fatalf("B after PCR approval: got %+v, %v; want released", rel, err)
	}
	// Withdrawn: pending again.
	if err := c.Do(ctx, "DELETE", "/v1/vault/pcr-approvals/"+appr.ID, nil, nil); err != nil {
		t.Fatal(err)
	}
	if again, err := b.ask(t, b.request(t)); err != nil || again.State != enrollapi.UnsealPending {
		t.Fatalf("B after the approval was withdrawn: got %+v, %v; want pending", again, err)
	}

	// A nonce past its time.
	late := b.request(t)
	clk.Advance(3 * time.Minute)
	_, err = b.ask(t, late)
	wantRefused(t, tw, err, enrollapi.CodeNonceExpired)

	// Revoked: no remote unseal.
	if err := c.Do(ctx, "POST", "/v1/sites/"+b.id+"/revoke", struct{}{}, nil); err != nil {
		t.Fatal(err)
	}
	err = b.do(t, "POST", enrollapi.PathVaultNonce, struct{}{}, nil)
	wantRefused(t, tw, err, enrollapi.CodeSiteRevoked)
}
