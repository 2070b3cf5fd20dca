package ektrust

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chain makes a root, an intermediate and an EK certificate signed by it,
// the way TPM makers do (the EK certificate carries a critical extension
// Go does not know).
func chain(t *testing.T, name string) (root, inter, ek *x509.Certificate) {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	mk := func(tmpl, parent *x509.Certificate, pub, priv any) *x509.Certificate {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, priv)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	now := time.Now()
	rk, ik, ek0 := key(), key(), key()
	rt := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " root"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	root = mk(rt, rt, &rk.PublicKey, rk)
	it := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name + " issuer"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	inter = mk(it, root, &ik.PublicKey, rk)
	et := &x509.Certificate{SerialNumber: big.NewInt(3), NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageKeyEncipherment,
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 23, 133, 99}, Critical: true, Value: []byte{5, 0}}}}
	ek = mk(et, inter, &ek0.PublicKey, ik)
	return root, inter, ek
}

func TestVerify(t *testing.T) {
	root, inter, ek := chain(t, "maker")
	otherRoot, _, otherEK := chain(t, "other")
	for _, tc := range []struct {
		name    string
		trust   []*x509.Certificate
		ek      []byte
		wantErr string
	}{
		{"trusted maker", []*x509.Certificate{root, inter}, ek.Raw, ""},
		{"no intermediate", []*x509.Certificate{root}, ek.Raw, "does not chain"},
		{"other maker", []*x509.Certificate{root, inter}, otherEK.Raw, "does not chain"},
		{"trusts another maker only", []*x509.Certificate{otherRoot}, ek.Raw, "does not chain"},
		{"no roots", nil, ek.Raw, "trusts no TPM maker"},
		{"not a certificate", []*x509.Certificate{root, inter}, []byte("junk"), "parse EK certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.trust...)
			if err != nil {
				t.Fatal(err)
			}
			err = p.Verify(tc.ek)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("Verify: %v, want error with %q", err, tc.wantErr)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	root, inter, ek := chain(t, "maker")
	dir := t.TempDir()
	pemOf := func(cs ...*x509.Certificate) []byte {
		var b []byte
		for _, c := range cs {
			b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
		}
		return b
	}
	os.WriteFile(filepath.Join(dir, "root.pem"), pemOf(root), 0o644)
	os.WriteFile(filepath.Join(dir, "issuer.cer"), inter.Raw, 0o644) // DER
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("where these came from"), 0o644)
	p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p.Len() != 1 {
		t.Errorf("roots: %d, want 1", p.Len())
	}
	if err := p.Verify(ek.Raw); err != nil {
		t.Errorf("Verify with roots from a directory: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "key.pem")
	os.WriteFile(bad, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1}}), 0o600)
	if _, err := Load(bad); err == nil {
		t.Error("Load of a file without a certificate: no error")
	}
	if _, err := New(inter); err == nil {
		t.Error("New with an intermediate only: no error")
	}
}
