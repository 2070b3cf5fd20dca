package siteconfig

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestWorkloadRegistryCAs(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "registry CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	keyDER, _ := x509.MarshalECPrivateKey(key)
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	file := func(version int, cas ...string) []byte {
		b, _ := json.Marshal(map[string]any{"version": version, "workload": map[string]any{"registryCAs": cas}})
		return b
	}

	c, err := Parse(file(3, ca, ca+ca))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Workload.RegistryCAs) != 2 || c.Workload.RegistryCAs[0] != ca {
		t.Errorf("registryCAs: %q", c.Workload.RegistryCAs)
	}
	out, _ := c.Marshal()
	if _, err := Parse(out); err != nil {
		t.Errorf("re-parse: %v", err)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"not PEM", file(3, "MIIB..."), "workload.registryCAs[0]: no PEM certificate"},
		{"a key", file(3, ca, keyPEM), `workload.registryCAs[1]: a PEM block of type "EC PRIVATE KEY"`},
		{"garbage after", file(3, ca+"junk"), "workload.registryCAs[0]: text after the last certificate"},
		{"bad DER", file(3, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("x")}))), "workload.registryCAs[0]: certificate 1"},
		{"version 2", file(2, ca), `workload section needs "version": 3`},
	} {
		if _, err := Parse(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}
