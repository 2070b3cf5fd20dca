package vault

import (
	"crypto/ecdh"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"go.etcd.io/bbolt"

	"github.com/skerry/skerry/services/api/secretapi"
	"github.com/skerry/skerry/services/api/vaultapi"
)

// The site key pair (README.md, "Secrets from the tower"): an X25519 key
// the tower seals secrets to. Its private half is a secret of the
// internal tenant siteTenant, so it is sealed under that tenant's data
// key and rewrapped by every master key rotation like any other; no
// tenant can name it (tenant names start with a letter or digit).
const (
	siteTenant  = "_site"
	siteKeyName = "x25519"
)

// bTower records the tower's secrets the vault took: "<tenant>/<name>"
// -> the tower's version, so a resent envelope is not stored again and a
// secret the tower no longer lists is deleted.
var bTower = []byte("tower")

// siteKey returns the site key pair, making it on first use.
func (v *Vault) siteKey() (*ecdh.PrivateKey, error) {
	s, err := v.Store.Secret(siteTenant, siteKeyName, 0)
	if errors.Is(err, ErrNotFound) {
		k, err := secretapi.NewKey()
		if err != nil {
			return nil, err
		}
		if _, err := v.Store.PutSecret(siteTenant, siteKeyName, k.Bytes()); err != nil {
			return nil, fmt.Errorf("store the site key: %w", err)
		}
		v.log.Info("made the site key pair", "key_id", secretapi.KeyID(k.PublicKey().Bytes()))
		// Read it back: two first calls at once store two versions, and
		// both must then use the latest.
		return v.siteKey()
	}
	if err != nil {
		return nil, err
	}
	return ecdh.X25519().NewPrivateKey(s.Value)
}

func getSiteKey(v *Vault, r *http.Request, c *call) (any, error) {
	k, err := v.siteKey()
	if err != nil {
		return nil, err
	}
	pub := k.PublicKey().Bytes()
	return vaultapi.SiteKey{Public: pub, KeyID: secretapi.KeyID(pub)}, nil
}

func putSiteSecrets(v *Vault, r *http.Request, c *call) (any, error) {
	req, err := decode[vaultapi.SiteSecrets](r)
	if err != nil {
		return nil, err
	}
	return v.ImportSiteSecrets(req)
}

// ImportSiteSecrets takes the tower's secrets for this site: each
// envelope whose version the vault does not have is opened with the site
// key and stored as the tenant's secret (a new version; the apps' files
// are rewritten); a secret the vault took from the tower earlier and the
// list no longer holds is deleted with its files. An envelope that does
// not open is refused and named, the others still taken.
func (v *Vault) ImportSiteSecrets(req vaultapi.SiteSecrets) (vaultapi.SiteSecretsResult, error) {
	var res vaultapi.SiteSecretsResult
	if req.Site == "" {
		return res, invalidf("site secrets: name the site the envelopes are sealed for")
	}
	key, err := v.siteKey()
	if err != nil {
		return res, err
	}
	if id := secretapi.KeyID(key.PublicKey().Bytes()); req.KeyID != id {
		return res, invalidf("site secrets are sealed to key %q, this vault's key is %q: the tower must learn the new key (the agent reports it)", req.KeyID, id)
	}
	have, err := v.towerSecrets()
	if err != nil {
		return res, err
	}
	listed := map[string]bool{}
	for _, e := range req.Secrets {
		k := e.Tenant + "/" + e.Name
		listed[k] = true
		refuse := func(err error) {
			res.Refused = append(res.Refused, vaultapi.RefusedSecret{Tenant: e.Tenant, Name: e.Name, Reason: err.Error()})
			v.log.Warn("refused a secret from the tower", "tenant", e.Tenant, "secret", e.Name, "version", e.Version, "err", err)
		}
		if err := errors.Join(ValidTenant(e.Tenant), validName("secret", e.Name)); err != nil {
			refuse(err)
			continue
		}
		if have[k] == e.Version {
			res.Unchanged++
			continue
		}
		plain, err := secretapi.Open(key, req.Site, e)
		if err != nil {
			refuse(err)
			continue
		}
		if _, err := v.Store.PutSecret(e.Tenant, e.Name, plain); err != nil {
			return res, err
		}
		if err := v.Store.update(func(tx *bbolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists(bTower)
			if err != nil {
				return err
			}
			return b.Put([]byte(k), verKey(e.Version))
		}); err != nil {
			return res, err
		}
		res.Stored++
		v.log.Info("stored a secret from the tower", "tenant", e.Tenant, "secret", e.Name, "tower_version", e.Version)
		if err := v.refreshFiles(e.Tenant, e.Name); err != nil {
			v.log.Error("rewrite secret files", "tenant", e.Tenant, "secret", e.Name, "err", err)
		}
	}
	for k := range have {
		if listed[k] {
			continue
		}
		tenant, name, _ := cutLast(k)
		if err := v.deleteTowerSecret(tenant, name); err != nil {
			return res, err
		}
		res.Deleted++
		v.log.Info("deleted a secret the tower no longer holds", "tenant", tenant, "secret", name)
	}
	return res, nil
}

// towerSecrets is bTower's content.
func (v *Vault) towerSecrets() (map[string]int, error) {
	out := map[string]int{}
	err := v.Store.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bTower)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, val []byte) error {
			if len(val) == 8 {
				out[string(k)] = int(binary.BigEndian.Uint64(val))
			}
			return nil
		})
	})
	return out, err
}

// deleteTowerSecret deletes every version of tenant's secret name, its
// record in bTower, and the files of the apps that use it.
func (v *Vault) deleteTowerSecret(tenant, name string) error {
	err := v.Store.update(func(tx *bbolt.Tx) error {
		if b := tx.Bucket(bTower); b != nil {
			if err := b.Delete([]byte(tenant + "/" + name)); err != nil {
				return err
			}
		}
		sb := tx.Bucket(bTenants).Bucket([]byte(tenant))
		if sb == nil || sb.Bucket(bSecrets) == nil || sb.Bucket(bSecrets).Bucket([]byte(name)) == nil {
			return nil
		}
		return sb.Bucket(bSecrets).DeleteBucket([]byte(name))
	})
	if err != nil {
		return fmt.Errorf("delete secret %s of %s: %w", name, tenant, err)
	}
	jobs, err := v.appsUsing(tenant, name)
	var errs []error
	for _, j := range jobs {
		if slices.Contains(j.f.Secrets, name) {
			errs = append(errs, removeFile(v.appDir(j.tenant, j.app), fileName(j.f, name)))
		}
	}
	return errors.Join(append(errs, err)...)
}
