package main

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/skerry/skerry/qemu/swtpm"
	"github.com/skerry/skerry/services/agent"
	"github.com/skerry/skerry/services/tower/ca"
)

// TestUplinkTLSWithTPMKey makes a site identity whose key lives in a
// (software) TPM, as the agent's enrollment does, and checks that the
// uplink's TLS configuration completes a mutual TLS handshake with it: the
// TPM signs, and the server sees the site's certificate.
func TestUplinkTLSWithTPMKey(t *testing.T) {
	id, authority, tpmPath := tpmIdentity(t, "0123456789abcdef")

	srvCert, srvKey, err := authority.ServerCert([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{srvCert.Raw}, PrivateKey: srvKey}},
		ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: authority.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	peer := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			peer <- err.Error()
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			peer <- err.Error()
			return
		}
		peer <- tc.ConnectionState().PeerCertificates[0].Subject.CommonName
	}()

	cfg, release, err := identityTLS(id, tpmPath, l.Addr().String(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	c, err := tls.Dial("tcp", l.Addr().String(), cfg)
	if err != nil {
		t.Fatalf("handshake with the TPM key: %v", err)
	}
	c.Close()
	if got := <-peer; got != id.SiteID {
		t.Errorf("server saw %q, want the site %q", got, id.SiteID)
	}
}

// tpmIdentity makes the identity of site whose key lives in a (software)
// TPM, as the agent's enrollment does, with the CA that certified it
// and the TPM's path.
func tpmIdentity(t *testing.T, site string) (id *agent.Identity, authority *ca.CA, tpmPath string) {
	t.Helper()
	sw := swtpm.New(t, swtpm.Options{})
	authority, err := ca.LoadOrCreate(t.TempDir(), "test CA")
	if err != nil {
		t.Fatal(err)
	}
	tp, err := agent.OpenTPM(sw.Path())
	if err != nil {
		t.Fatal(err)
	}
	ak, err := tp.NewAK()
	if err != nil {
		t.Fatal(err)
	}
	key, err := ak.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := authority.SiteCert(site, key.Public(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	akBlob, _ := ak.Marshal()
	keyBlob, err := key.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	key.Close()
	ak.Close()
	tp.Close()
	return &agent.Identity{Version: agent.IdentityVersion, SiteID: site, AK: akBlob, Key: keyBlob,
		Certificate: cert.Raw, CACertificate: authority.Cert.Raw}, authority, sw.Path()
}
