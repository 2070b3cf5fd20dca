package ektrust

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"
)

// TestShipped checks the shipped makers' CAs: all parse, all are CAs, the
// common makers are there, and some are valid today.
func TestShipped(t *testing.T) {
	certs, err := ShippedCerts()
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) < 40 {
		t.Errorf("%d shipped certificates, want the 50 of roots/", len(certs))
	}
	makers := map[string]bool{}
	valid := 0
	for _, c := range certs {
		if !c.IsCA {
			t.Errorf("%s is not a CA certificate", c.Subject)
		}
		if time.Now().Before(c.NotAfter) {
			valid++
		}
		for _, m := range []string{"Infineon", "STMicroelectronics", "Nuvoton", "Intel", "GlobalSign", "Nationz"} {
			if strings.Contains(c.Subject.String(), m) {
				makers[m] = true
			}
		}
	}
	for _, m := range []string{"Infineon", "STMicroelectronics", "Nuvoton", "Intel"} {
		if !makers[m] {
			t.Errorf("no shipped CA of %s", m)
		}
	}
	if valid < 20 {
		t.Errorf("only %d shipped CAs are valid today", valid)
	}
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.WithShipped(); err != nil || p.Len() != len(certs) {
		t.Errorf("WithShipped: %v, %d anchors, want %d", err, p.Len(), len(certs))
	}
}

// TestShippedRefusesOthers: with only the shipped makers' CAs, an EK
// certificate from any other CA (a software TPM's own) is not trusted.
func TestShippedRefusesOthers(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.WithShipped(); err != nil {
		t.Fatal(err)
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Not A Maker EK CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	ekKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ekDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2),
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}, ca, &ekKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(ekDER); err == nil || !strings.Contains(err.Error(), "does not chain to a trusted TPM maker") {
		t.Errorf("Verify of an EK from another CA: got %v, want a refusal", err)
	}
	// The same certificate passes once its CA is trusted: the refusal
	// above is about the CA, not the certificate's form.
	p.AddAnchors(ca)
	if err := p.Verify(ekDER); err != nil {
		t.Errorf("Verify with its CA trusted: %v", err)
	}
}
