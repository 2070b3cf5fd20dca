package tower

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"regexp"

	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/tower/store"
)

// Secrets set at the tower (README.md, "Secrets"): a tenant admin or an
// operator sets a secret for the tenant's sites a selector matches; each
// PUT is a new version. The tower keeps the value sealed under its secret
// key (secrets.key in its data directory), opens it only to seal it again
// to each matching site's vault key in the site's desired state, and
// never answers it back or logs it.

// MaxSecretBytes bounds a secret's value: its envelope, base64, must fit
// a site's desired state beside the others.
const MaxSecretBytes = 32 << 10

// secretNameRE is workloadapi's name rule: an app spec names the secret.
var secretNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// secretKeyFile holds the tower's secret key in its data directory.
const secretKeyFile = "secrets.key"

// WithSecretKey sets the 32-byte AES-256 key the tower seals stored
// secrets with (Open reads it from secrets.key, made on first start).
// Without it New makes a key that lives as long as the process: secrets
// stored under it do not open after a restart.
func WithSecretKey(key []byte) Option { return func(s *Server) { s.secretKey = key } }

func secretAEADOf(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("the tower's secret key: %w", err)
	}
	return cipher.NewGCM(b)
}

// sealWith seals plain under a with a fresh nonce, which leads the result.
func sealWith(a cipher.AEAD, plain, aad []byte) []byte {
	nonce := make([]byte, a.NonceSize())
	rand.Read(nonce)
	return a.Seal(nonce, nonce, plain, aad)
}

func secretAAD(tenant, name string, version int) []byte {
	return fmt.Appendf(nil, "tower-secret/%s/%s/%d", tenant, name, version)
}

// openSecret returns a stored secret's value. While a rotation of the
// secret key runs, it opens under the new key or the old.
func (s *Server) openSecret(sec store.Secret) ([]byte, error) {
	var err error
	for _, k := range s.secretKeys() {
		var a cipher.AEAD
		if a, err = secretAEADOf(k); err != nil {
			return nil, err
		}
		n := a.NonceSize()
		if len(sec.Sealed) < n {
			return nil, fmt.Errorf("secret %s/%s version %d: sealed value too short", sec.Tenant, sec.Name, sec.Version)
		}
		var p []byte
		if p, err = a.Open(nil, sec.Sealed[:n], sec.Sealed[n:], secretAAD(sec.Tenant, sec.Name, sec.Version)); err == nil {
			return p, nil
		}
	}
	return nil, fmt.Errorf("secret %s/%s version %d does not open with the tower's secret key (secrets.key replaced?): %w", sec.Tenant, sec.Name, sec.Version, err)
}

func secretView(sec store.Secret) towerapi.Secret {
	return towerapi.Secret{Tenant: sec.Tenant, Name: sec.Name, Version: sec.Version, Selector: sec.Selector, CreatedAt: sec.CreatedAt, CreatedBy: sec.CreatedBy}
}

// putSecret stores a new version of a tenant's secret.
func (s *Server) putSecret(w http.ResponseWriter, r *http.Request, p principal) error {
	tenant, name := r.PathValue("tenant"), r.PathValue("name")
	if err := p.mayWrite(tenant); err != nil {
		return err
	}
	if !secretNameRE.MatchString(name) {
		return refuse(ErrBadRequest, "secret name %q: use 1 to 63 lowercase letters, digits and '-', not starting or ending with '-' (an app spec names it)", name)
	}
	in, err := decode[towerapi.SecretSet](w, r)
	if err != nil {
		return err
	}
	if len(in.Value) == 0 || len(in.Value) > MaxSecretBytes {
		return refuse(ErrBadRequest, "secret %s/%s: value of %d bytes; give 1 to %d bytes (base64 in \"value\")", tenant, name, len(in.Value), MaxSecretBytes)
	}
	if err := checkLabels(in.Selector); err != nil {
		return err
	}
	if len(in.Selector) == 0 {
		in.Selector = nil
	}
	sec := store.Secret{Tenant: tenant, Name: name, Version: 1, Selector: in.Selector, CreatedAt: s.now(), CreatedBy: p.String()}
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		if _, err := tenantExists(tx, tenant); err != nil {
			return err
		}
		if last, err := tx.Secret(tenant, name); err == nil {
			sec.Version = last.Version + 1
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		// The key is read inside the transaction: a rotation switches
		// keys before its own transaction, which runs after this one and
		// so seals this secret again if it took the old key.
		a, err := secretAEADOf(s.secretKeys()[0])
		if err != nil {
			return err
		}
		sec.Sealed = sealWith(a, in.Value, secretAAD(tenant, name, sec.Version))
		return tx.PutSecret(sec)
	})
	if err != nil {
		return err
	}
	s.desired.changed()
	s.log.Info("secret stored", "tenant", tenant, "secret", name, "version", sec.Version, "selector", fmt.Sprint(sec.Selector), "by", p.String())
	writeJSON(w, http.StatusOK, secretView(sec))
	return nil
}

// listSecrets lists a tenant's secrets, without values.
func (s *Server) listSecrets(w http.ResponseWriter, r *http.Request, p principal) error {
	return serveTenantList(s, w, r, p, store.Tx.Secrets, secretView)
}

// getSecret describes one secret, without its value.
func (s *Server) getSecret(w http.ResponseWriter, r *http.Request, p principal) error {
	tenant, name := r.PathValue("tenant"), r.PathValue("name")
	if err := p.mayRead(tenant); err != nil {
		return err
	}
	var sec store.Secret
	err := s.store.View(r.Context(), func(tx store.Tx) (err error) {
		sec, err = tx.Secret(tenant, name)
		return notFound(err, "secret %s/%s not found", tenant, name)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, secretView(sec))
	return nil
}

// deleteSecret deletes a secret; the sites that had it delete it at
// their next desired state.
func (s *Server) deleteSecret(w http.ResponseWriter, r *http.Request, p principal) error {
	tenant, name := r.PathValue("tenant"), r.PathValue("name")
	if err := p.mayWrite(tenant); err != nil {
		return err
	}
	err := s.store.Update(r.Context(), func(tx store.Tx) error {
		return notFound(tx.DeleteSecret(tenant, name), "secret %s/%s not found", tenant, name)
	})
	if err != nil {
		return err
	}
	s.desired.changed()
	s.log.Info("secret deleted", "tenant", tenant, "secret", name, "by", p.String())
	w.WriteHeader(http.StatusNoContent)
	return nil
}
