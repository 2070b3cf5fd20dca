package vault

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/skerry/skerry/services/api/vaultapi"
)

// MaxSecret bounds a secret's value.
const MaxSecret = 64 << 10

// PutSecret stores value as the next version of tenant's secret name.
func (s *Store) PutSecret(tenant, name string, value []byte) (vaultapi.Secret, error) {
	if err := validName("secret", name); err != nil {
		return vaultapi.Secret{}, err
	}
	if len(value) > MaxSecret {
		return vaultapi.Secret{}, invalidf("secret %s: %d bytes, at most %d", name, len(value), MaxSecret)
	}
	var out vaultapi.Secret
	err := s.update(func(tx *bbolt.Tx) error {
		dk, dv, err := s.tenantDK(tx, tenant, true)
		if err != nil {
			return err
		}
		sb, err := tx.Bucket(bTenants).Bucket([]byte(tenant)).CreateBucketIfNotExists(bSecrets)
		if err != nil {
			return err
		}
		nb, err := sb.CreateBucketIfNotExists([]byte(name))
		if err != nil {
			return err
		}
		v := latest(nb) + 1
		sealed, err := sealGCM(dk, value, recordAAD(string(bSecrets), tenant, name, v))
		if err != nil {
			return err
		}
		now := time.Now().UTC()
		out = vaultapi.Secret{Name: name, Version: v, Created: now}
		return putJSON(nb, verKey(v), record{DK: dv, Sealed: sealed, Created: now})
	})
	return out, err
}

// Secret returns version v (0: the latest) of tenant's secret name.
func (s *Store) Secret(tenant, name string, v int) (vaultapi.Secret, error) {
	var out vaultapi.Secret
	err := s.view(func(tx *bbolt.Tx) error {
		nb := bucketPath(tx, tenant, bSecrets, name)
		if nb == nil {
			return fmt.Errorf("%w: secret %s", ErrNotFound, name)
		}
		if v == 0 {
			v = latest(nb)
		}
		r, plain, err := s.openRecord(tx, tenant, bSecrets, name, nb, v)
		if err != nil {
			return err
		}
		out = vaultapi.Secret{Name: name, Version: v, Created: r.Created, Value: plain}
		return nil
	})
	return out, err
}

// openRecord reads and opens version v of a secret or key in nb.
func (s *Store) openRecord(tx *bbolt.Tx, tenant string, kind []byte, name string, nb *bbolt.Bucket, v int) (record, []byte, error) {
	var r record
	raw := nb.Get(verKey(v))
	if raw == nil {
		return r, nil, fmt.Errorf("%w: %s %s version %d", ErrNotFound, kind, name, v)
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return r, nil, err
	}
	dk, _, err := s.tenantDK(tx, tenant, false)
	if err != nil {
		return r, nil, err
	}
	plain, err := openGCM(dk, r.Sealed, recordAAD(string(kind), tenant, name, v))
	return r, plain, err
}

// Secrets lists tenant's secrets, without values.
func (s *Store) Secrets(tenant string) ([]vaultapi.SecretInfo, error) {
	out := []vaultapi.SecretInfo{}
	err := s.view(func(tx *bbolt.Tx) error {
		return eachName(tx, tenant, bSecrets, func(name string, b *bbolt.Bucket) error {
			out = append(out, vaultapi.SecretInfo{Name: name, Latest: latest(b)})
			return nil
		})
	})
	return out, err
}

// eachName calls fn with each name in TENANTS/tenant/kind and its bucket.
func eachName(tx *bbolt.Tx, tenant string, kind []byte, fn func(string, *bbolt.Bucket) error) error {
	b := tx.Bucket(bTenants).Bucket([]byte(tenant))
	if b == nil || b.Bucket(kind) == nil {
		return nil
	}
	b = b.Bucket(kind)
	return b.ForEachBucket(func(k []byte) error { return fn(string(k), b.Bucket(k)) })
}

// bucketPath is TENANTS/tenant/kind/name, or nil.
func bucketPath(tx *bbolt.Tx, tenant string, kind []byte, name string) *bbolt.Bucket {
	b := tx.Bucket(bTenants).Bucket([]byte(tenant))
	for _, k := range [][]byte{kind, []byte(name)} {
		if b == nil {
			return nil
		}
		b = b.Bucket(k)
	}
	return b
}

// latest is the highest version in b, 0 for none.
func latest(b *bbolt.Bucket) int {
	c := b.Cursor()
	for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
		if len(k) == 8 {
			return int(binary.BigEndian.Uint64(k))
		}
	}
	return 0
}

func verKey(v int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

// update and view run fn with the master key held, refusing while sealed.
func (s *Store) update(fn func(*bbolt.Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.master == nil {
		return ErrSealed
	}
	return s.db.Update(fn)
}

func (s *Store) view(fn func(*bbolt.Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.master == nil {
		return ErrSealed
	}
	return s.db.View(fn)
}
