package agent

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"testing"

	"github.com/google/go-attestation/attest"
)

// TestTPMEnrollmentProofs runs, against a real software TPM, each proof the
// tower relies on, checked the way the tower checks them: credential
// activation binds the AK to the EK, the AK certifies the TLS key, and the
// key signs the CSR.
func TestTPMEnrollmentProofs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ekCert bool
	}{
		{name: "EK from template", ekCert: false},
		{name: "manufactured EK with certificate", ekCert: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sw := newSWTPM(t, tc.ekCert)
			tpm, err := OpenTPM(sw.Path())
			if err != nil {
				t.Fatal(err)
			}
			defer tpm.Close()

			ek, err := tpm.EK()
			if err != nil {
				t.Fatal(err)
			}
			if got := ek.Certificate != nil; got != tc.ekCert {
				t.Fatalf("EK certificate present: got %v, want %v", got, tc.ekCert)
			}
			if tc.ekCert {
				if err := samePublic(ek.Public, ek.Certificate.PublicKey); err != nil {
					t.Errorf("EK certificate is not for the EK: %v", err)
				}
			}

			p, err := newTPMProver(tpm)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			defer p.key().Close()

			// Credential activation, the tower's side from go-attestation.
			params := p.ak.Parameters()
			ap := attest.ActivationParameters{EK: ek.Public, AK: params}
			secret, ec, err := ap.Generate()
			if err != nil {
				t.Fatalf("generate challenge: %v", err)
			}
			got, err := p.ak.ActivateCredential(ek, *ec)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, secret) {
				t.Errorf("activated secret: got %x, want %x", got, secret)
			}

			// The AK certifies the TLS key.
			akPub, err := attest.ParseAKPublic(params.Public)
			if err != nil {
				t.Fatal(err)
			}
			cp := p.k.Certification()
			if err := cp.Verify(attest.VerifyOpts{Public: akPub.Public, Hash: crypto.SHA256}); err != nil {
				t.Errorf("key certification does not verify with the AK: %v", err)
			}

			// The key signs a CSR in the TPM.
			der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, p.key())
			if err != nil {
				t.Fatal(err)
			}
			csr, err := x509.ParseCertificateRequest(der)
			if err != nil {
				t.Fatal(err)
			}
			if err := csr.CheckSignature(); err != nil {
				t.Errorf("CSR signature: %v", err)
			}
			if err := samePublic(csr.PublicKey, p.key().Public()); err != nil {
				t.Errorf("CSR: %v", err)
			}

			// A challenge for another TPM's EK does not activate.
			other, err := attest.ParseAKPublic(params.Public) // any RSA key will do
			if err != nil {
				t.Fatal(err)
			}
			wrong := attest.ActivationParameters{EK: other.Public, AK: params}
			_, ec2, err := wrong.Generate()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.ak.ActivateCredential(ek, *ec2); err == nil {
				t.Error("activating a credential made for another EK: got nil error")
			}
		})
	}
}
