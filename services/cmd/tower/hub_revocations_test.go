package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/streamlog/wire"
	"github.com/skerry/skerry/services/tower"
	"github.com/skerry/skerry/services/tower/towertest"
)

// TestStandaloneHubRevocations runs a tower with its embedded hub and a
// standalone hub set up as an operator does (its key made here, its
// certificate from POST /v1/hubs, -tower for the revocation list). A
// site's batch sent to the standalone hub reaches the tower through it;
// once the tower revokes a site the standalone hub refuses that site's
// connection, though it cannot see the tower's registry; once the tower
// revokes the hub, the tower refuses the hub; and a hub certificate the
// tower did not issue through POST /v1/hubs is refused from the start.
func TestStandaloneHubRevocations(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a tower and a hub")
	}
	tw := towertest.Start(t, tower.WithUplink("127.0.0.1:0"))
	op := tw.Client(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sites := enrollSoftware(t, tw, 2)
	keep, keepCert := sites[0].SiteID, sites[0].cert
	gone, goneCert := sites[1].SiteID, sites[1].cert

	dir := t.TempDir()
	files := addHub(t, op, "edge1", dir)
	hubAddr := freeAddr(t)
	c := hubConfig{data: filepath.Join(dir, "data"), listen: hubAddr, hosts: []string{"127.0.0.1"}, maxBytes: 1 << 30,
		certFile: files.cert, keyFile: files.key, caCert: files.ca,
		parent: tw.UplinkAddr(), id: "edge1", parentCert: files.cert, parentKey: files.key, ackTimeout: 5 * time.Second,
		tower: tw.URL, revEvery: 100 * time.Millisecond}
	startHub(t, c)

	base := time.Now()
	for _, s := range []struct {
		id   string
		cert tls.Certificate
	}{{keep, keepCert}, {gone, goneCert}} {
		if a, err := towertest.SendBatch(ctx, hubAddr, s.cert, tw.CAPEM, batch(s.id, 0, base)); err != nil || a.Status != uplinkapi.StatusStored {
			t.Fatalf("site %s's batch to the standalone hub: %+v, %v", s.id, a, err)
		}
	}
	// Through the hub to the tower, which admits the hub it issued.
	var got towerapi.TopicRecords
	path := "/v1/sites/" + url.PathEscape(keep) + "/topics/acme/t/records?offset=0"
	for deadline := time.Now().Add(20 * time.Second); len(got.Records) == 0; time.Sleep(100 * time.Millisecond) {
		if err := op.Do(ctx, "GET", path, nil, &got); err != nil && !strings.Contains(err.Error(), "not_found") {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("site %s's record never reached the tower through hub edge1; tower log:\n%s", keep, tw.Log.String())
		}
	}
	if hs := got.Records[0].Headers; !slices.ContainsFunc(hs, func(h towerapi.RecordHeader) bool { return h.Key == uplinkapi.HeaderHop }) {
		t.Errorf("record at the tower has headers %+v: want the %q header of a forwarded record", hs, uplinkapi.HeaderHop)
	}

	// The tower revokes site gone: the standalone hub refuses it at its
	// next connection, and still takes site keep.
	if err := op.Do(ctx, "POST", "/v1/sites/"+url.PathEscape(gone)+"/revoke", nil, nil); err != nil {
		t.Fatal(err)
	}
	var err error
	for deadline := time.Now().Add(10 * time.Second); err == nil; time.Sleep(100 * time.Millisecond) {
		_, err = towertest.SendBatch(ctx, hubAddr, goneCert, tw.CAPEM, batch(gone, 1, base))
		if err == nil && time.Now().After(deadline) {
			t.Fatalf("the standalone hub still takes revoked site %s's batches after 10 s", gone)
		}
	}
	if !strings.Contains(err.Error(), "connect") {
		t.Errorf("revoked site's batch: got %v, want its connection refused", err)
	}
	if a, err := towertest.SendBatch(ctx, hubAddr, keepCert, tw.CAPEM, batch(keep, 1, base)); err != nil || a.Status != uplinkapi.StatusStored {
		t.Errorf("site %s, not revoked, at the standalone hub: %+v, %v", keep, a, err)
	}
	if kept, err := os.ReadFile(filepath.Join(c.data, "revocations.json")); err != nil || !strings.Contains(string(kept), gone) {
		t.Errorf("the hub's kept revocation list: %q, %v; want it to name %s", kept, err, gone)
	}

	// A hub certificate of the tower CA that POST /v1/hubs did not issue
	// is refused by the tower; edge1's is taken until it is revoked.
	hubCert, err := tls.LoadX509KeyPair(files.cert, files.key)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rogue, err := tw.CA().HubCert("edge1", key.Public(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	rogueCert := tls.Certificate{Certificate: [][]byte{rogue.Raw}, PrivateKey: key}
	if _, err := towertest.SendBatch(ctx, tw.UplinkAddr(), rogueCert, tw.CAPEM, batch("edge1", 0, base)); err == nil || !strings.Contains(err.Error(), "connect") {
		t.Errorf("a hub certificate the tower did not record: got %v, want its connection refused", err)
	}
	if _, err := towertest.SendBatch(ctx, tw.UplinkAddr(), hubCert, tw.CAPEM, batch("edge1", 0, base)); err != nil {
		t.Errorf("hub edge1's own certificate at the tower: %v", err)
	}
	if err := op.Do(ctx, "POST", "/v1/hubs/edge1/revoke", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := towertest.SendBatch(ctx, tw.UplinkAddr(), hubCert, tw.CAPEM, batch("edge1", 0, base)); err == nil || !strings.Contains(err.Error(), "connect") {
		t.Errorf("revoked hub edge1 at the tower: got %v, want its connection refused", err)
	}
}

// hubFiles are where addHub wrote a hub's identity.
type hubFiles struct{ key, cert, ca string }

// addHub does what skerryctl tower hubs add does: a key here, a
// certificate for it from the tower.
func addHub(t *testing.T, op *towerapi.Client, id, dir string) hubFiles {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: id}}, key)
	if err != nil {
		t.Fatal(err)
	}
	var out towerapi.HubCreated
	in := towerapi.HubCreate{ID: id, Hosts: []string{"127.0.0.1"}, CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}))}
	if err := op.Do(context.Background(), "POST", "/v1/hubs", in, &out); err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	f := hubFiles{filepath.Join(dir, id+".key"), filepath.Join(dir, id+".crt"), filepath.Join(dir, "ca.crt")}
	for p, b := range map[string][]byte{f.key: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), f.cert: []byte(out.Certificate), f.ca: []byte(out.CA)} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// enrolled is a software site registered at a tower.
type enrolled struct {
	enrollapi.EnrollResult
	key  *ecdsa.PrivateKey
	cert tls.Certificate
}

// enrollSoftware registers n software sites in a new tenant acme.
func enrollSoftware(t *testing.T, tw *towertest.Tower, n int) []enrolled {
	t.Helper()
	ctx, op := context.Background(), tw.Client(t, "")
	if err := op.Do(ctx, "POST", "/v1/tenants", towerapi.Tenant{ID: "acme", AllowSoftwareIdentity: true}, nil); err != nil {
		t.Fatal(err)
	}
	var tok towerapi.EnrollTokenCreated
	if err := op.Do(ctx, "POST", "/v1/enrollment-tokens", towerapi.EnrollTokenCreate{Tenant: "acme", MaxUses: n}, &tok); err != nil {
		t.Fatal(err)
	}
	var out []enrolled
	for range n {
		sa := towertest.NewSoftwareAgent(t, tw.URL, tw.CAPEM)
		res, err := sa.Enroll(ctx, tok.Token)
		if err != nil || res.Status != enrollapi.StatusRegistered {
			t.Fatalf("enroll: %+v, %v", res, err)
		}
		out = append(out, enrolled{res, sa.Key, tls.Certificate{Certificate: [][]byte{res.Certificate}, PrivateKey: sa.Key}})
	}
	return out
}

// batch is one record of acme/t at site offset off.
func batch(site string, off uint64, base time.Time) *uplinkapi.Batch {
	return &uplinkapi.Batch{Site: site, Tenant: "acme", Topic: "t", From: off, Epoch: 1,
		Records: []wire.Record{{Offset: off, Time: base.Add(time.Duration(off) * time.Millisecond), Value: fmt.Appendf(nil, "v%d", off)}}}
}

// freeAddr is a free loopback address.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
