// Package ca is the tower's certificate authority: an ECDSA P-256 key and
// self-signed certificate kept in the tower's data directory. It signs the
// tower's TLS server certificate and the sites' client certificates.
package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/skerry/skerry/services/atomicfile"
)

// File names in the directory.
const (
	CertFile = "ca.crt"
	KeyFile  = "ca.key"
)

// ErrCorrupt is returned when the CA files exist but cannot be used.
var ErrCorrupt = errors.New("unusable CA files")

// CA signs certificates.
type CA struct {
	Cert *x509.Certificate
	key  crypto.Signer
}

// LoadOrCreate loads the CA from dir, creating it on first use. The key file
// is written 0600 before any byte of the key goes into it.
func LoadOrCreate(dir, name string) (*CA, error) {
	certPath, keyPath := filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)
	certPEM, err := os.ReadFile(certPath)
	if errors.Is(err, os.ErrNotExist) {
		return create(certPath, keyPath, name)
	}
	if err != nil {
		return nil, fmt.Errorf("read CA: %w", err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("read CA key: %w", err)
	}
	return parse(certPEM, keyPEM)
}

func parse(certPEM, keyPEM []byte) (*CA, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, fmt.Errorf("decode CA PEM: %w", ErrCorrupt)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate: %w: %v", ErrCorrupt, err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse CA key: %w: %v", ErrCorrupt, err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("CA key does not match certificate: %w", ErrCorrupt)
	}
	return &CA{Cert: cert, key: key}, nil
}

func create(certPath, keyPath, name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randSerial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(20, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode CA key: %w", err)
	}
	// Key first: a crash between the two writes leaves no certificate, and
	// the next start creates a fresh pair rather than failing on a
	// certificate without its key.
	if err := atomicfile.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	return &CA{Cert: cert, key: key}, nil
}

// CertPEM returns the CA certificate as PEM, for site configs and clients.
func (c *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw})
}

// Pool returns a pool holding only the CA.
func (c *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.Cert)
	return p
}

func randSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n.Add(n, big.NewInt(1))
}

// ServerCert issues a TLS server certificate for hosts (DNS names or IP
// addresses), valid for a year, with a fresh key.
func (c *CA) ServerCert(hosts []string) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate server key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: randSerial(),
		Subject:      pkix.Name{CommonName: "skerry tower"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	cert, err := c.sign(tmpl, key.Public())
	return cert, key, err
}

// SiteCert issues a site's client certificate for pub: CN is the site ID,
// the only usage is client authentication, so it cannot serve TLS.
func (c *CA) SiteCert(siteID string, pub crypto.PublicKey, validity time.Duration) (*x509.Certificate, error) {
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: randSerial(),
		Subject:      pkix.Name{CommonName: siteID, OrganizationalUnit: []string{"site"}},
		NotBefore:    now.Add(-5 * time.Minute), // a box whose clock lags a little still accepts it
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return c.sign(tmpl, pub)
}

// HubCert issues a hub's client certificate for pub: CN is the hub's ID
// (a site ID's rules), OU "hub". A parent lets a hub certificate forward
// the records of other sites; a site certificate only its own.
func (c *CA) HubCert(hubID string, pub crypto.PublicKey, validity time.Duration) (*x509.Certificate, error) {
	return c.sign(hubTemplate(hubID, validity), pub)
}

// HubServerCert issues a hub's certificate that also serves TLS to its
// sites under hosts (DNS names or IP addresses): one identity for both
// sides of the hub, as the tower's POST /v1/hubs issues it.
func (c *CA) HubServerCert(hubID string, hosts []string, pub crypto.PublicKey, validity time.Duration) (*x509.Certificate, error) {
	tmpl := hubTemplate(hubID, validity)
	tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return c.sign(tmpl, pub)
}

func hubTemplate(hubID string, validity time.Duration) *x509.Certificate {
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: randSerial(),
		Subject:      pkix.Name{CommonName: hubID, OrganizationalUnit: []string{"hub"}},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

func (c *CA) sign(tmpl *x509.Certificate, pub crypto.PublicKey) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.Cert, pub, c.key)
	if err != nil {
		return nil, fmt.Errorf("sign certificate for %s: %w", tmpl.Subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}
