package agent

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
)

// siteKey is the private key of the site's TLS certificate: a key in the
// TPM, or for a box allowed software identity, a key in memory.
type siteKey interface {
	crypto.Signer
	Close() error
}

var (
	_ siteKey = (*Key)(nil)
	_ siteKey = softKey{}
)

// softKey is a software identity's key. It is only as safe as the disk it
// is kept on, which is why the tower marks such a site everywhere.
type softKey struct{ *ecdsa.PrivateKey }

func (softKey) Close() error { return nil }

func newSoftKey() (softKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return softKey{}, fmt.Errorf("generate software key: %w", err)
	}
	return softKey{k}, nil
}

func (k softKey) marshal() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("encode software key: %w", err)
	}
	return der, nil
}

func parseSoftKey(der []byte) (softKey, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return softKey{}, fmt.Errorf("parse software key: %w", err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return softKey{}, fmt.Errorf("parse software key: %T, want ECDSA", k)
	}
	return softKey{ek}, nil
}

// samePublic reports whether a and b are the same public key. Every key
// type of crypto/... has Equal(crypto.PublicKey); crypto.PublicKey is a
// named type, so the assertion must spell it, not any.
func samePublic(a, b crypto.PublicKey) error {
	x, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !x.Equal(b) {
		return errors.New("certificate is not for the kept key")
	}
	return nil
}
