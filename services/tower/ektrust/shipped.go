package ektrust

import (
	"crypto/x509"
	"embed"
	"fmt"
	"io/fs"
	"path"
)

// roots holds the TPM makers' EK CA certificates this repository ships;
// roots/SOURCES.md says where they came from.
//
//go:embed roots/*.pem
var roots embed.FS

// ShippedCerts returns the makers' CA certificates shipped with the tower.
func ShippedCerts() ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	err := fs.WalkDir(roots, "roots", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".pem" {
			return err
		}
		data, err := roots.ReadFile(p)
		if err != nil {
			return err
		}
		cs, err := parseCerts(p, data)
		if err != nil {
			return err
		}
		out = append(out, cs...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("shipped EK roots: %w", err)
	}
	return out, nil
}

// AddAnchors adds certs to p as trust anchors, whether or not they are
// self-signed. The shipped makers' CAs are added so: some makers' top
// CAs are themselves signed by roots no longer published (Infineon's EK
// root by VeriSign's retired TPM root), and a chain that reaches a maker's
// CA we hold is the maker's word.
func (p *Pool) AddAnchors(certs ...*x509.Certificate) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range certs {
		p.roots.AddCert(c)
		p.n++
	}
}

// WithShipped adds the shipped makers' CAs to p as anchors.
func (p *Pool) WithShipped() (*Pool, error) {
	certs, err := ShippedCerts()
	if err != nil {
		return nil, err
	}
	p.AddAnchors(certs...)
	return p, nil
}
