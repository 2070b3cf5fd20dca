package tower

import (
	"context"
	"crypto/cipher"
	"errors"

	"github.com/skerry/skerry/services/tower/store"
)

// PutStoredSecret stores tenant (made if missing) and a secret of it
// sealed under key, or under the tower's sealing key when key is nil,
// as a tower stopped mid-rotation or given another secrets.key leaves it.
func (s *Server) PutStoredSecret(ctx context.Context, tenant, name, value string, key []byte) error {
	if key == nil {
		key = s.secretKeys()[0]
	}
	a, err := secretAEADOf(key)
	if err != nil {
		return err
	}
	return s.store.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Tenant(tenant); errors.Is(err, store.ErrNotFound) {
			if err := tx.PutTenant(store.Tenant{ID: tenant}); err != nil {
				return err
			}
		}
		sec := store.Secret{Tenant: tenant, Name: name, Version: 1}
		if old, err := tx.Secret(tenant, name); err == nil {
			sec = old
		}
		sec.Sealed = sealWith(a, []byte(value), secretAAD(tenant, name, sec.Version))
		return tx.PutSecret(sec)
	})
}

// OpenStoredSecret opens a stored secret with the tower's keys.
func (s *Server) OpenStoredSecret(ctx context.Context, tenant, name string) (string, error) {
	var p []byte
	err := s.store.View(ctx, func(tx store.Tx) error {
		sec, err := tx.Secret(tenant, name)
		if err != nil {
			return err
		}
		p, err = s.openSecret(sec)
		return err
	})
	return string(p), err
}

// SealedWith says whether the stored secret opens with key.
func (s *Server) SealedWith(ctx context.Context, tenant, name string, key []byte) bool {
	a, _ := secretAEADOf(key)
	ok := false
	s.store.View(ctx, func(tx store.Tx) error {
		sec, err := tx.Secret(tenant, name)
		if err == nil {
			_, err = resealSecret([]cipher.AEAD{a}, &sec)
			ok = err == nil
		}
		return nil
	})
	return ok
}
