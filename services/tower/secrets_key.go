package tower

import (
	"context"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/atomicfile"
	"github.com/skerry/skerry/services/tower/store"
)

// Rotation of the tower's secret key (README.md, "Secrets"): a new key is
// written to secrets.key.next before anything is sealed with it; from
// then on new secrets are sealed with it and both keys open; one store
// transaction seals every stored secret again under it; only then does
// secrets.key.next replace secrets.key. A tower stopped at any step
// starts with both keys (Open finds secrets.key.next) and finishes the
// rotation, so no secret is ever left under a key that is not on disk.

// secretKeyNextFile holds the new key while a rotation runs.
const secretKeyNextFile = "secrets.key.next"

// secretRing is the keys stored secrets open with while a rotation runs:
// keys[0] seals. Empty: Server.secretKey alone.
type secretRing struct {
	mu       sync.RWMutex
	keys     [][]byte
	rotating sync.Mutex // one rotation at a time
	dir      string     // where the key files are; "" keeps keys in memory
}

// withSecretKeyDir has rotations write the key files in dir, and starts
// with next (read from secrets.key.next) sealing beside the current key
// when a rotation was stopped; Open sets it.
func withSecretKeyDir(dir string, next []byte) Option {
	return func(s *Server) {
		s.secretRing.dir = dir
		if next != nil {
			s.secretRing.keys = [][]byte{next, s.secretKey}
		}
	}
}

// secretKeys is the keys secrets open with, the sealing one first.
func (s *Server) secretKeys() [][]byte {
	s.secretRing.mu.RLock()
	defer s.secretRing.mu.RUnlock()
	if len(s.secretRing.keys) > 0 {
		return s.secretRing.keys
	}
	return [][]byte{s.secretKey}
}

// secretKeyID names a key in logs and answers without showing it.
func secretKeyID(k []byte) string {
	sum := sha256.Sum256(append([]byte("skerry tower secret key\x00"), k...))
	return hex.EncodeToString(sum[:8])
}

// RotateSecretKey makes a new secret key and seals every stored secret
// under it; it returns how many secrets it sealed again.
func (s *Server) RotateSecretKey(ctx context.Context) (towerapi.SecretKeyRotated, error) {
	r := &s.secretRing
	r.rotating.Lock()
	defer r.rotating.Unlock()
	old := s.secretKeys()
	next := newSecretKey()
	if len(old) > 1 {
		// A rotation that failed earlier: finish it with its key.
		next = old[0]
	} else if r.dir != "" {
		if err := atomicfile.WriteFile(filepath.Join(r.dir, secretKeyNextFile), next, 0o600); err != nil {
			return towerapi.SecretKeyRotated{}, fmt.Errorf("write the new secret key: %w; nothing changed", err)
		}
	}
	r.mu.Lock()
	r.keys = append([][]byte{next}, old[len(old)-1])
	r.mu.Unlock()
	return s.finishSecretKeyRotation(ctx)
}

// finishSecretKeyRotation seals every stored secret that does not open
// with the first key again under it, in one transaction, then makes that
// key the only one (on disk too). On failure both keys stay: a later
// rotation or start finishes.
func (s *Server) finishSecretKeyRotation(ctx context.Context) (towerapi.SecretKeyRotated, error) {
	keys := s.secretKeys()
	var out towerapi.SecretKeyRotated
	aeads := make([]cipher.AEAD, len(keys))
	for i, k := range keys {
		a, err := secretAEADOf(k)
		if err != nil {
			return out, err
		}
		aeads[i] = a
	}
	err := s.store.Update(ctx, func(tx store.Tx) error {
		out.Resealed = 0
		page := store.Page{Limit: 500}
		for {
			ts, cursor, err := tx.Tenants(page)
			if err != nil {
				return err
			}
			for _, t := range ts {
				secs, err := tx.Secrets(t.ID)
				if err != nil {
					return err
				}
				for _, sec := range secs {
					resealed, err := resealSecret(aeads, &sec)
					if err != nil {
						return err
					}
					if !resealed {
						continue
					}
					if err := tx.PutSecret(sec); err != nil {
						return err
					}
					out.Resealed++
				}
			}
			if cursor == "" {
				return nil
			}
			page.Cursor = cursor
		}
	})
	if err != nil {
		if errors.Is(err, ErrConflict) {
			return out, err
		}
		return out, fmt.Errorf("seal the stored secrets under the new key: %w; both keys stay (%s), rotate again to finish", err, secretKeyNextFile)
	}
	if d := s.secretRing.dir; d != "" {
		next, cur := filepath.Join(d, secretKeyNextFile), filepath.Join(d, secretKeyFile)
		if _, err := os.Stat(next); err == nil {
			if err := os.Rename(next, cur); err != nil {
				return out, fmt.Errorf("replace %s with %s: %w; both keys stay, rotate again to finish", secretKeyFile, secretKeyNextFile, err)
			}
			if err := atomicfile.SyncDir(d); err != nil {
				return out, err
			}
		}
	}
	s.secretRing.mu.Lock()
	s.secretRing.keys = keys[:1]
	s.secretRing.mu.Unlock()
	out.KeyID = secretKeyID(keys[0])
	s.log.Info("tower secret key rotated", "key_id", out.KeyID, "resealed", out.Resealed)
	return out, nil
}

// resealSecret seals sec again under aeads[0] when it opens only with
// another key, and says whether it did.
func resealSecret(aeads []cipher.AEAD, sec *store.Secret) (bool, error) {
	aad := secretAAD(sec.Tenant, sec.Name, sec.Version)
	for i, a := range aeads {
		n := a.NonceSize()
		if len(sec.Sealed) < n {
			break
		}
		plain, err := a.Open(nil, sec.Sealed[:n], sec.Sealed[n:], aad)
		if err != nil {
			continue
		}
		if i == 0 {
			clear(plain)
			return false, nil
		}
		sec.Sealed = sealWith(aeads[0], plain, aad)
		clear(plain)
		return true, nil
	}
	return false, refuse(ErrConflict, "secret %s/%s version %d opens with no key the tower holds (secrets.key replaced?): set it again or delete it, then rotate", sec.Tenant, sec.Name, sec.Version)
}

// rotateSecretKey is POST /v1/secret-key/rotate: operators only.
func (s *Server) rotateSecretKey(w http.ResponseWriter, r *http.Request, p principal) error {
	if err := p.mustOperator(); err != nil {
		return err
	}
	out, err := s.RotateSecretKey(r.Context())
	if err != nil {
		return err
	}
	s.log.Info("tower secret key rotation asked", "by", p.String())
	writeJSON(w, http.StatusOK, out)
	return nil
}

// loadNextSecretKey reads dir/secrets.key.next, the key of a rotation
// that was stopped; nil when there is none.
func loadNextSecretKey(dir string) ([]byte, error) {
	p := filepath.Join(dir, secretKeyNextFile)
	k, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the tower's next secret key: %w", err)
	}
	if len(k) != 32 {
		return nil, fmt.Errorf("the tower's next secret key %s has %d bytes, want 32: a rotation was stopped while writing it, so nothing is sealed under it; remove the file and rotate again", p, len(k))
	}
	return k, nil
}
