package main

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skerry/skerry/services/tower/ca"
)

// TestHubIdentityFiles loads a hub's certificate, key and the tower CA from
// files (a hub away from the tower) and checks that the pool verifies the
// sites' certificates, and that missing pieces are named.
func TestHubIdentityFiles(t *testing.T) {
	dir := t.TempDir()
	authority, err := ca.LoadOrCreate(dir, "test CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := authority.ServerCert([]string{"hub.example"})
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"hub.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		"hub.key": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		"ca.pem":  authority.CertPEM(),
		"bad.pem": []byte("not a certificate"),
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p := func(n string) string { return filepath.Join(dir, n) }
	good := hubConfig{certFile: p("hub.crt"), keyFile: p("hub.key"), caCert: p("ca.pem")}
	got, pool, err := hubIdentity(good, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Certificate) != 1 || string(got.Certificate[0]) != string(cert.Raw) {
		t.Error("hub certificate not the one in -cert")
	}
	site, err := authority.SiteCert("s1", key.Public(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := site.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("site certificate not verified by -ca-cert: %v", err)
	}
	for _, tc := range []struct {
		name string
		c    hubConfig
		want string
	}{
		{"no CA", hubConfig{certFile: p("hub.crt"), keyFile: p("hub.key")}, "-ca-cert"},
		{"CA without a certificate", hubConfig{certFile: p("hub.crt"), keyFile: p("hub.key"), caCert: p("bad.pem")}, "no PEM certificate"},
		{"no key", hubConfig{certFile: p("hub.crt"), caCert: p("ca.pem")}, "-key"},
	} {
		if _, _, err := hubIdentity(tc.c, false); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error naming %q", tc.name, err, tc.want)
		}
	}
}
