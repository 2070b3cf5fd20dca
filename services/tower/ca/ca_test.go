package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLoadOrCreate(t *testing.T) {
	dir := t.TempDir()
	c1, err := LoadOrCreate(dir, "test CA")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: got %v, %v; want mode 0600", fi, err)
	}
	c2, err := LoadOrCreate(dir, "test CA")
	if err != nil {
		t.Fatal(err)
	}
	if !c1.Cert.Equal(c2.Cert) {
		t.Error("second load made a new CA")
	}

	// A key that does not match the certificate is refused, not replaced.
	other := t.TempDir()
	if _, err := LoadOrCreate(other, "other"); err != nil {
		t.Fatal(err)
	}
	key, _ := os.ReadFile(filepath.Join(other, KeyFile))
	os.WriteFile(filepath.Join(dir, KeyFile), key, 0o600)
	if _, err := LoadOrCreate(dir, "test CA"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("mismatched key: got %v, want ErrCorrupt", err)
	}
}

func TestSiteAndServerCerts(t *testing.T) {
	c, err := LoadOrCreate(t.TempDir(), "test CA")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	site, err := c.SiteCert("site-1", key.Public(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	opts := x509.VerifyOptions{Roots: c.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if _, err := site.Verify(opts); err != nil {
		t.Errorf("site certificate as client: %v", err)
	}
	opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	if _, err := site.Verify(opts); err == nil {
		t.Error("site certificate verifies as a server certificate")
	}
	srv, _, err := c.ServerCert([]string{"127.0.0.1", "tower.example"})
	if err != nil {
		t.Fatal(err)
	}
	opts.DNSName = "10.0.2.2"
	if _, err := srv.Verify(opts); err == nil {
		t.Error("server certificate verifies for a host it was not made for")
	}
	opts.DNSName = "tower.example"
	if _, err := srv.Verify(opts); err != nil {
		t.Errorf("server certificate for tower.example: %v", err)
	}
	opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	opts.DNSName = ""
	if _, err := srv.Verify(opts); err == nil {
		t.Error("server certificate verifies as a client (site) certificate")
	}
}
