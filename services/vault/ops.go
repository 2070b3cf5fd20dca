package vault

import (
	"crypto"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.etcd.io/bbolt"

	"github.com/skerry/skerry/services/api/vaultapi"
	"github.com/skerry/skerry/services/vault/ff1"
)

// MaxPlaintext bounds what one encrypt, sign or mask call takes.
const MaxPlaintext = 1 << 20

const ctPrefix = "vault:v"

// Encrypt encrypts plain under the latest version of tenant's AES key
// name, binding context.
func (s *Store) Encrypt(tenant, name string, plain, context []byte) (vaultapi.Ciphertext, error) {
	m, v, err := s.material(tenant, name, 0, vaultapi.KeyAES256GCM)
	if err != nil {
		return vaultapi.Ciphertext{}, err
	}
	a := m.(cipher.AEAD)
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(plain)+a.Overhead())
	rand.Read(nonce)
	sealed := a.Seal(nonce, nonce, plain, context)
	return vaultapi.Ciphertext{Ciphertext: ctPrefix + strconv.Itoa(v) + ":" + base64.StdEncoding.EncodeToString(sealed), Version: v}, nil
}

// Decrypt opens a ciphertext of Encrypt.
func (s *Store) Decrypt(tenant, name, ct string, context []byte) (vaultapi.Plaintext, error) {
	v, sealed, err := parseCiphertext(ct)
	if err != nil {
		return vaultapi.Plaintext{}, err
	}
	m, _, err := s.material(tenant, name, v, vaultapi.KeyAES256GCM)
	if err != nil {
		return vaultapi.Plaintext{}, err
	}
	a := m.(cipher.AEAD)
	if len(sealed) < a.NonceSize() {
		return vaultapi.Plaintext{}, fmt.Errorf("%w: ciphertext too short", ErrDecrypt)
	}
	plain, err := a.Open(nil, sealed[:a.NonceSize()], sealed[a.NonceSize():], context)
	if err != nil {
		return vaultapi.Plaintext{}, fmt.Errorf("%w: not sealed by key %s version %d with this context, or altered", ErrDecrypt, name, v)
	}
	return vaultapi.Plaintext{Plaintext: plain, Version: v}, nil
}

// Rewrap decrypts ct and encrypts it again under the key's latest
// version, without the plaintext leaving the vault.
func (s *Store) Rewrap(tenant, name, ct string, context []byte) (vaultapi.Ciphertext, error) {
	p, err := s.Decrypt(tenant, name, ct, context)
	if err != nil {
		return vaultapi.Ciphertext{}, err
	}
	return s.Encrypt(tenant, name, p.Plaintext, context)
}

func parseCiphertext(ct string) (int, []byte, error) {
	rest, ok := strings.CutPrefix(ct, ctPrefix)
	vs, b64, ok2 := strings.Cut(rest, ":")
	v, err := strconv.Atoi(vs)
	if !ok || !ok2 || err != nil || v < 1 {
		return 0, nil, fmt.Errorf("%w: ciphertext does not start with vault:v<version>", ErrInvalid)
	}
	sealed, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: ciphertext: %v", ErrInvalid, err)
	}
	return v, sealed, nil
}

// FPE encrypts (or decrypts) value with FF1 under version v (0: latest,
// encrypt only) of tenant's FF1 key name.
func (s *Store) FPE(tenant, name string, req vaultapi.FPE, encrypt bool) (vaultapi.FPEResult, error) {
	if !encrypt && req.Version == 0 {
		return vaultapi.FPEResult{}, invalidf("fpe decrypt: name the key version the value was encrypted with")
	}
	alphabet := req.Alphabet
	if alphabet == "" {
		alphabet = "0123456789"
	}
	m, v, err := s.material(tenant, name, req.Version, vaultapi.KeyFF1)
	if err != nil {
		return vaultapi.FPEResult{}, err
	}
	c, err := ff1.New(m.([]byte), alphabet)
	if err != nil {
		return vaultapi.FPEResult{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	crypt := c.Decrypt
	if encrypt {
		crypt = c.Encrypt
	}
	out, err := crypt(req.Tweak, req.Value)
	if err != nil {
		return vaultapi.FPEResult{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return vaultapi.FPEResult{Value: out, Version: v}, nil
}

// Sign signs msg with the latest version of tenant's signing key name:
// Ed25519 over the message, ECDSA P-256 over its SHA-256 (ASN.1).
func (s *Store) Sign(tenant, name string, msg []byte) (vaultapi.Signature, error) {
	m, v, err := s.material(tenant, name, 0, vaultapi.KeyEd25519, vaultapi.KeyECDSAP256)
	if err != nil {
		return vaultapi.Signature{}, err
	}
	var sig []byte
	switch k := m.(type) {
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, msg)
	case *ecdsa.PrivateKey:
		h := sha256.Sum256(msg)
		if sig, err = k.Sign(rand.Reader, h[:], crypto.SHA256); err != nil {
			return vaultapi.Signature{}, err
		}
	}
	return vaultapi.Signature{Signature: sig, Version: v}, nil
}

// Verify checks sig over msg with version v of tenant's signing key name.
func (s *Store) Verify(tenant, name string, msg, sig []byte, v int) (bool, error) {
	if v < 1 {
		return false, invalidf("verify: name the key version (from sign's answer)")
	}
	m, _, err := s.material(tenant, name, v, vaultapi.KeyEd25519, vaultapi.KeyECDSAP256)
	if err != nil {
		return false, err
	}
	switch k := m.(type) {
	case ed25519.PrivateKey:
		return ed25519.Verify(k.Public().(ed25519.PublicKey), msg, sig), nil
	case *ecdsa.PrivateKey:
		h := sha256.Sum256(msg)
		return ecdsa.VerifyASN1(&k.PublicKey, h[:], sig), nil
	}
	return false, ErrWrongKeyType
}

// Mask hides value as req says.
func (s *Store) Mask(tenant string, req vaultapi.Mask) (string, error) {
	switch req.Mode {
	case vaultapi.MaskRedact:
		return "[redacted]", nil
	case vaultapi.MaskKeep:
		return keep(req)
	case vaultapi.MaskHash:
		k, err := s.tenantMaskKey(tenant)
		if err != nil {
			return "", err
		}
		h := hmac.New(sha256.New, k)
		h.Write([]byte(req.Value))
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	return "", invalidf("mask mode %q: use %s, %s or %s", req.Mode, vaultapi.MaskKeep, vaultapi.MaskHash, vaultapi.MaskRedact)
}

// keep keeps the first and last characters of a value, hiding the rest.
func keep(req vaultapi.Mask) (string, error) {
	mc := req.MaskChar
	if mc == "" {
		mc = "*"
	}
	if req.First < 0 || req.Last < 0 || utf8.RuneCountInString(mc) != 1 {
		return "", invalidf("mask keep: first and last must be 0 or more, maskChar one character")
	}
	r := []rune(req.Value)
	var b strings.Builder
	for i, c := range r {
		if i < req.First || i >= len(r)-req.Last {
			b.WriteRune(c)
		} else {
			b.WriteString(mc)
		}
	}
	return b.String(), nil
}

// tenantMaskKey is the tenant's key for keyed hashes, made on first use;
// it survives data key rotations, so a value hashes the same after one.
func (s *Store) tenantMaskKey(tenant string) ([]byte, error) {
	m, _, err := s.material(tenant, maskKey, 0, keyHMAC)
	if errors.Is(err, ErrNotFound) {
		err = s.update(func(tx *bbolt.Tx) error {
			err := s.newKey(tx, tenant, maskKey, keyHMAC)
			if errors.Is(err, ErrExists) {
				return nil // made meanwhile
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		m, _, err = s.material(tenant, maskKey, 0, keyHMAC)
	}
	if err != nil {
		return nil, err
	}
	return m.([]byte), nil
}
