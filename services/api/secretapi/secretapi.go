// Package secretapi is how a secret set at the tower travels to a site's
// vault: an Envelope sealed with HPKE (RFC 9180; DHKEM(X25519),
// HKDF-SHA256, AES-256-GCM) to the site vault's public key, with the
// site, tenant, secret name and tower version bound into the HPKE info,
// so only that site's vault opens it, and an envelope moved to another
// site, tenant, name or version does not open. The tower seals
// (services/tower), the agent carries (services/agent), the vault opens
// (services/vault); all three import this package.
package secretapi

import (
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
)

// ErrOpen is returned when an envelope does not open: sealed to another
// key, for another site, tenant, name or version, or altered.
var ErrOpen = errors.New("secret envelope does not open")

// ErrKey is returned for a public or private key that is not an X25519
// key.
var ErrKey = errors.New("not an X25519 site vault key")

// Envelope is one secret version sealed to one site's vault.
type Envelope struct {
	Tenant string `json:"tenant"`
	Name   string `json:"name"`
	// Version is the tower's version of the secret: a site keeps a
	// version it has and takes any other.
	Version int `json:"version"`
	// Sealed is HPKE's encapsulated key followed by the ciphertext.
	Sealed []byte `json:"sealed"`
}

// Suite of the envelopes.
var (
	kdf  = hpke.HKDFSHA256()
	aead = hpke.AES256GCM()
)

// info binds an envelope to its place.
func info(site string, e Envelope) []byte {
	return []byte("skerry site secret v1\x00" + site + "\x00" + e.Tenant + "\x00" + e.Name + "\x00" + strconv.Itoa(e.Version))
}

// KeyID names a site vault public key: the first 16 bytes of its
// SHA-256, hex.
func KeyID(public []byte) string {
	s := sha256.Sum256(public)
	return hex.EncodeToString(s[:16])
}

// NewKey makes a site vault key pair.
func NewKey() (*ecdh.PrivateKey, error) { return ecdh.X25519().GenerateKey(nil) }

// Seal seals plaintext as e (Tenant, Name and Version set) for site,
// whose vault's public key is public (32 bytes, X25519).
func Seal(public []byte, site string, e Envelope, plaintext []byte) (Envelope, error) {
	pk, err := ecdh.X25519().NewPublicKey(public)
	if err != nil {
		return e, fmt.Errorf("%w: %v", ErrKey, err)
	}
	hpk, err := hpke.NewDHKEMPublicKey(pk)
	if err != nil {
		return e, fmt.Errorf("%w: %v", ErrKey, err)
	}
	e.Sealed, err = hpke.Seal(hpk, kdf, aead, info(site, e), plaintext)
	return e, err
}

// Open opens e, sealed for site, with the site vault's private key.
func Open(priv *ecdh.PrivateKey, site string, e Envelope) ([]byte, error) {
	k, err := hpke.NewDHKEMPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	p, err := hpke.Open(k, kdf, aead, info(site, e), e.Sealed)
	if err != nil {
		return nil, fmt.Errorf("%w: secret %s/%s version %d for site %s", ErrOpen, e.Tenant, e.Name, e.Version, site)
	}
	return p, nil
}
