package vault

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/skerry/skerry/services/api/vaultapi"
)

// maskKey is the tenant's key for keyed hashes in masking; its name
// cannot be a tenant's key name, which starts with a letter or digit.
const (
	maskKey = "_mask"
	keyHMAC = "hmac-sha256"
)

// keyMeta is a named key's description as stored.
type keyMeta struct {
	Type    string    `json:"type"`
	Latest  int       `json:"latest"`
	Created time.Time `json:"created"`
}

// CreateKey makes tenant's key name of type typ, at version 1.
func (s *Store) CreateKey(tenant, name, typ string) (vaultapi.Key, error) {
	if err := validName("key", name); err != nil {
		return vaultapi.Key{}, err
	}
	switch typ {
	case vaultapi.KeyAES256GCM, vaultapi.KeyFF1, vaultapi.KeyEd25519, vaultapi.KeyECDSAP256:
	default:
		return vaultapi.Key{}, invalidf("key type %q: use %s, %s, %s or %s", typ,
			vaultapi.KeyAES256GCM, vaultapi.KeyFF1, vaultapi.KeyEd25519, vaultapi.KeyECDSAP256)
	}
	if err := s.update(func(tx *bbolt.Tx) error { return s.newKey(tx, tenant, name, typ) }); err != nil {
		return vaultapi.Key{}, err
	}
	return s.Key(tenant, name)
}

func (s *Store) newKey(tx *bbolt.Tx, tenant, name, typ string) error {
	if _, _, err := s.tenantDK(tx, tenant, true); err != nil {
		return err
	}
	kb, err := tx.Bucket(bTenants).Bucket([]byte(tenant)).CreateBucketIfNotExists(bKeys)
	if err != nil {
		return err
	}
	nb, err := kb.CreateBucket([]byte(name))
	if errors.Is(err, berrors.ErrBucketExists) {
		return fmt.Errorf("%w: key %s", ErrExists, name)
	} else if err != nil {
		return err
	}
	if err := putJSON(nb, kMeta, keyMeta{Type: typ, Created: time.Now().UTC()}); err != nil {
		return err
	}
	return s.addVersion(tx, tenant, name, nb)
}

// RotateKey adds a version to tenant's key name; new encryptions and
// signatures use it, older versions still decrypt and verify.
func (s *Store) RotateKey(tenant, name string) (vaultapi.Key, error) {
	err := s.update(func(tx *bbolt.Tx) error {
		nb := bucketPath(tx, tenant, bKeys, name)
		if nb == nil {
			return fmt.Errorf("%w: key %s", ErrNotFound, name)
		}
		return s.addVersion(tx, tenant, name, nb)
	})
	if err != nil {
		return vaultapi.Key{}, err
	}
	return s.Key(tenant, name)
}

// addVersion makes new material for the next version of the key in nb.
func (s *Store) addVersion(tx *bbolt.Tx, tenant, name string, nb *bbolt.Bucket) error {
	var m keyMeta
	if err := json.Unmarshal(nb.Get(kMeta), &m); err != nil {
		return err
	}
	material, public, err := generate(m.Type)
	if err != nil {
		return err
	}
	dk, dv, err := s.tenantDK(tx, tenant, false)
	if err != nil {
		return err
	}
	m.Latest++
	sealed, err := sealGCM(dk, material, recordAAD(string(bKeys), tenant, name, m.Latest))
	if err != nil {
		return err
	}
	if err := putJSON(nb, verKey(m.Latest), record{DK: dv, Sealed: sealed, Created: time.Now().UTC(), Public: public}); err != nil {
		return err
	}
	return putJSON(nb, kMeta, m)
}

// generate makes key material of typ and, for signing keys, the PKIX
// public key.
func generate(typ string) (material, public []byte, err error) {
	switch typ {
	case vaultapi.KeyAES256GCM, vaultapi.KeyFF1, keyHMAC:
		k := make([]byte, 32)
		_, err = rand.Read(k)
		return k, nil, err
	case vaultapi.KeyEd25519:
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		public, err = x509.MarshalPKIXPublicKey(pub)
		return priv.Seed(), public, err
	case vaultapi.KeyECDSAP256:
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		if public, err = x509.MarshalPKIXPublicKey(&priv.PublicKey); err != nil {
			return nil, nil, err
		}
		material, err = x509.MarshalPKCS8PrivateKey(priv)
		return material, public, err
	}
	return nil, nil, fmt.Errorf("%w: key type %q", ErrInvalid, typ)
}

// Key describes tenant's key name.
func (s *Store) Key(tenant, name string) (vaultapi.Key, error) {
	var out vaultapi.Key
	err := s.view(func(tx *bbolt.Tx) error {
		nb := bucketPath(tx, tenant, bKeys, name)
		if nb == nil {
			return fmt.Errorf("%w: key %s", ErrNotFound, name)
		}
		var err error
		out, err = describe(name, nb)
		return err
	})
	return out, err
}

// Keys lists tenant's keys.
func (s *Store) Keys(tenant string) ([]vaultapi.Key, error) {
	out := []vaultapi.Key{}
	err := s.view(func(tx *bbolt.Tx) error {
		return eachName(tx, tenant, bKeys, func(name string, b *bbolt.Bucket) error {
			if name == maskKey {
				return nil
			}
			d, err := describe(name, b)
			out = append(out, d)
			return err
		})
	})
	return out, err
}

func describe(name string, nb *bbolt.Bucket) (vaultapi.Key, error) {
	var m keyMeta
	if err := json.Unmarshal(nb.Get(kMeta), &m); err != nil {
		return vaultapi.Key{}, err
	}
	k := vaultapi.Key{Name: name, Type: m.Type, Latest: m.Latest, Created: m.Created}
	for v := 1; v <= m.Latest; v++ {
		var r record
		if err := json.Unmarshal(nb.Get(verKey(v)), &r); err != nil {
			return vaultapi.Key{}, err
		}
		if r.Public != nil {
			k.Public = append(k.Public, vaultapi.PublicHalf{Version: v, PKIX: r.Public})
		}
	}
	return k, nil
}

// material returns version v (0: the latest) of tenant's key name, of a
// type in types, parsed: a cipher.AEAD, an ff1 key ([]byte), an
// ed25519.PrivateKey or an *ecdsa.PrivateKey. It caches what it parsed.
func (s *Store) material(tenant, name string, v int, types ...string) (any, int, error) {
	var out any
	err := s.view(func(tx *bbolt.Tx) error {
		nb := bucketPath(tx, tenant, bKeys, name)
		if nb == nil {
			return fmt.Errorf("%w: key %s", ErrNotFound, name)
		}
		var m keyMeta
		if err := json.Unmarshal(nb.Get(kMeta), &m); err != nil {
			return err
		}
		if !slices.Contains(types, m.Type) {
			return fmt.Errorf("%w: key %s is %s; this needs %v", ErrWrongKeyType, name, m.Type, types)
		}
		if v == 0 {
			v = m.Latest
		}
		ck := fmt.Sprintf("keys/%s/%s/%d", tenant, name, v)
		if c, ok := s.cached(ck); ok {
			out = c
			return nil
		}
		_, plain, err := s.openRecord(tx, tenant, bKeys, name, nb, v)
		if err != nil {
			return err
		}
		if out, err = parse(m.Type, plain); err != nil {
			return err
		}
		s.remember(ck, out)
		return nil
	})
	return out, v, err
}

func parse(typ string, b []byte) (any, error) {
	switch typ {
	case vaultapi.KeyAES256GCM:
		return newGCM(b)
	case vaultapi.KeyEd25519:
		return ed25519.NewKeyFromSeed(b), nil
	case vaultapi.KeyECDSAP256:
		return x509.ParsePKCS8PrivateKey(b)
	}
	return b, nil // ff1, hmac: the raw key
}
