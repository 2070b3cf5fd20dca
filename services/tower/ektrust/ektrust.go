// Package ektrust verifies TPM endorsement-key certificates against the
// roots of TPM makers the tower is configured to trust. An EK whose
// certificate does not chain to one of them is a software identity to the
// tower: any software TPM can make an EK, only a maker's CA certifies one
// that lives in its chip.
//
// A trust store is a set of PEM files (or directories of *.pem, *.crt and
// *.cer files, PEM or DER), each holding certificates: self-signed ones
// are roots, the others intermediates, used only to complete a chain to a
// root. README.md beside this file says where makers publish theirs.
package ektrust

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-attestation/attest"
)

// Pool is a set of trusted TPM maker roots and their intermediates.
type Pool struct {
	mu           sync.RWMutex
	roots, inter *x509.CertPool
	n            int
}

// Len is the number of roots.
func (p *Pool) Len() int {
	if p == nil {
		return 0
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.n
}

// Load reads every certificate in paths (files or directories).
func Load(paths ...string) (*Pool, error) {
	var certs []*x509.Certificate
	for _, path := range paths {
		files := []string{path}
		if fi, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("EK roots: %w", err)
		} else if fi.IsDir() {
			ents, err := os.ReadDir(path)
			if err != nil {
				return nil, fmt.Errorf("EK roots: %w", err)
			}
			files = nil
			for _, e := range ents {
				if ext := strings.ToLower(filepath.Ext(e.Name())); !e.IsDir() && slices.Contains([]string{".pem", ".crt", ".cer"}, ext) {
					files = append(files, filepath.Join(path, e.Name()))
				}
			}
		}
		for _, f := range files {
			cs, err := readCerts(f)
			if err != nil {
				return nil, err
			}
			certs = append(certs, cs...)
		}
	}
	return New(certs...)
}

// New returns a pool of certs: the self-signed ones are roots.
func New(certs ...*x509.Certificate) (*Pool, error) {
	p := &Pool{roots: x509.NewCertPool(), inter: x509.NewCertPool()}
	p.add(certs)
	if p.n == 0 && len(certs) > 0 {
		return nil, errors.New("EK roots: no self-signed root among the certificates given; add the maker's root CA")
	}
	return p, nil
}

// AddFiles adds the certificates in the files paths to p, while it is in use (a
// test's manufacturer CA comes into being with its first TPM).
func (p *Pool) AddFiles(paths ...string) error {
	var certs []*x509.Certificate
	for _, path := range paths {
		cs, err := readCerts(path)
		if err != nil {
			return err
		}
		certs = append(certs, cs...)
	}
	p.add(certs)
	return nil
}

func (p *Pool) add(certs []*x509.Certificate) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range certs {
		if selfSigned(c) {
			p.roots.AddCert(c)
			p.n++
		} else {
			p.inter.AddCert(c)
		}
	}
}

func selfSigned(c *x509.Certificate) bool {
	return c.CheckSignatureFrom(c) == nil && string(c.RawIssuer) == string(c.RawSubject)
}

// readCerts reads a PEM file of certificates, or one DER certificate.
func readCerts(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("EK roots: %w", err)
	}
	var out []*x509.Certificate
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("EK roots: %s: %w", path, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		c, err := x509.ParseCertificate(data)
		if err != nil {
			return nil, fmt.Errorf("EK roots: %s holds no PEM certificate and is not a DER one: %w", path, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// Verify checks that the EK certificate (DER, as read from the TPM's NV)
// chains to a trusted root. TPM EK certificates carry extensions Go's
// verifier does not know (the TPM's maker, model and version in a
// critical subject alternative name, the TCG's EK usage): those are
// accepted here, since the signature chain is what proves the maker.
func (p *Pool) Verify(der []byte) error {
	if p.Len() == 0 {
		return errors.New("the tower trusts no TPM maker (no EK roots configured)")
	}
	c, err := attest.ParseEKCertificate(der)
	if err != nil {
		return fmt.Errorf("parse EK certificate: %w", err)
	}
	c.UnhandledCriticalExtensions = nil
	p.mu.RLock()
	defer p.mu.RUnlock()
	_, err = c.Verify(x509.VerifyOptions{
		Roots: p.roots, Intermediates: p.inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return fmt.Errorf("EK certificate (issuer %q) does not chain to a trusted TPM maker: %w", c.Issuer.String(), err)
	}
	return nil
}
