package siteconfig

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// Workload configures the site's workload service.
type Workload struct {
	// RegistryCAs are PEM certificates the workload service trusts for
	// registry TLS, in addition to the system's roots (a site image has
	// none): the CA of an operator's private registry.
	RegistryCAs []string `json:"registryCAs,omitempty"`
}

// IsZero reports an absent section (for omitzero and version checks).
func (w Workload) IsZero() bool { return w.RegistryCAs == nil }

func (w Workload) check() error {
	for i, s := range w.RegistryCAs {
		if err := checkPEMCerts([]byte(s)); err != nil {
			return fmt.Errorf("workload.registryCAs[%d]: %w; want the registry CA's certificate as PEM (\"-----BEGIN CERTIFICATE-----\\n...\")", i, err)
		}
	}
	return nil
}

// checkPEMCerts checks that data is one or more PEM certificate blocks
// and nothing else.
func checkPEMCerts(data []byte) error {
	n := 0
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return fmt.Errorf("a PEM block of type %q, not CERTIFICATE", b.Type)
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return fmt.Errorf("certificate %d: %v", n+1, err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("no PEM certificate")
	}
	for _, c := range data {
		if c != ' ' && c != '\n' && c != '\r' && c != '\t' {
			return fmt.Errorf("text after the last certificate")
		}
	}
	return nil
}
