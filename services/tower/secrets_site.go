package tower

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/secretapi"
	"github.com/skerry/skerry/services/atomicfile"
	"github.com/skerry/skerry/services/tower/store"
)

// addSiteSecrets puts into d the site's secrets, each sealed to the
// site's vault key (secretapi: only that site's vault opens them; neither
// a hub nor the wire sees a value), and folds what they are into the
// revision. A site whose vault key the tower does not know yet gets none
// and no SiteKeyID, so it deletes nothing; its next report with the key
// wakes its long-poll.
func (s *Server) addSiteSecrets(tx store.Tx, site store.Site, d *enrollapi.Desired) error {
	if len(site.VaultKey) == 0 {
		return nil
	}
	d.SiteKeyID = secretapi.KeyID(site.VaultKey)
	secs, err := tx.Secrets(site.Tenant)
	if err != nil {
		return err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s", d.Revision, d.SiteKeyID)
	d.Secrets = []secretapi.Envelope{}
	for _, sec := range secs {
		if !sec.Matches(site.Labels) {
			continue
		}
		plain, err := s.openSecret(sec)
		if err != nil {
			return err
		}
		e, err := secretapi.Seal(site.VaultKey, site.ID, secretapi.Envelope{Tenant: sec.Tenant, Name: sec.Name, Version: sec.Version}, plain)
		clear(plain)
		if err != nil {
			return fmt.Errorf("seal secret %s/%s to site %s: %w", sec.Tenant, sec.Name, site.ID, err)
		}
		d.Secrets = append(d.Secrets, e)
		// The envelope differs at every sealing; the revision must not.
		fmt.Fprintf(h, "\x00%s\x00%d", sec.Name, sec.Version)
	}
	d.Revision = hex.EncodeToString(h.Sum(nil)[:12])
	return nil
}

// checkVaultKey refuses a reported vault key that is not an X25519
// public key; an absent one is fine (the vault is sealed or away).
func checkVaultKey(k []byte) error {
	if len(k) == 0 {
		return nil
	}
	if _, err := secretapi.Seal(k, "", secretapi.Envelope{}, nil); err != nil {
		return refuse(ErrBadRequest, "vaultKey: %v; send the 32 bytes of the vault's X25519 public key, or nothing", err)
	}
	return nil
}

// noteVaultKey records a reported vault key in site and says whether it
// changed. An absent key keeps the one known: a sealed vault still has
// its key.
func noteVaultKey(site *store.Site, k []byte) bool {
	if len(k) == 0 || string(k) == string(site.VaultKey) {
		return false
	}
	site.VaultKey = k
	return true
}

// newSecretKey makes a tower secret key.
func newSecretKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

// loadSecretKey reads dir/secrets.key, making it (0600) on first start.
func loadSecretKey(dir string) ([]byte, error) {
	p := filepath.Join(dir, secretKeyFile)
	k, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		k = newSecretKey()
		if err := atomicfile.WriteFile(p, k, 0o600); err != nil {
			return nil, fmt.Errorf("write the tower's secret key: %w", err)
		}
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the tower's secret key: %w", err)
	}
	if len(k) != 32 {
		return nil, fmt.Errorf("the tower's secret key %s has %d bytes, want 32: restore it from a backup (secrets stored under it do not open without it)", p, len(k))
	}
	return k, nil
}
