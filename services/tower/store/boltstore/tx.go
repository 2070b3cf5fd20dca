package boltstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/skerry/skerry/services/tower/store"
)

// Tx is a store.Tx over a bbolt transaction.
type Tx struct {
	tx *bolt.Tx
}

var _ store.Tx = (*Tx)(nil)

// byTenant returns the filter of a list by tenant, or nil (keep all) when
// the filter names none.
func byTenant[T any](f store.Filter, tenant func(T) string) func(T) bool {
	if f.Tenant == "" {
		return nil
	}
	return func(r T) bool { return tenant(r) == f.Tenant }
}

// The methods below are store.Tx's; records are JSON under their ID in
// their kind's bucket, which keeps the file readable with bbolt's own
// tools and lets a field be added without a migration.

func (t *Tx) Tenant(id string) (store.Tenant, error) { return get[store.Tenant](t.tx, bTenants, id) }
func (t *Tx) PutTenant(v store.Tenant) error         { return put(t.tx, bTenants, v.ID, v) }
func (t *Tx) Tenants(p store.Page) ([]store.Tenant, string, error) {
	return list[store.Tenant](t.tx, bTenants, p, nil)
}

func (t *Tx) OperatorToken(id string) (store.OperatorToken, error) {
	return get[store.OperatorToken](t.tx, bOpTokens, id)
}
func (t *Tx) PutOperatorToken(v store.OperatorToken) error { return put(t.tx, bOpTokens, v.ID, v) }
func (t *Tx) OperatorTokens(f store.Filter, p store.Page) ([]store.OperatorToken, string, error) {
	return list(t.tx, bOpTokens, p, byTenant(f, func(v store.OperatorToken) string { return v.Tenant }))
}

func (t *Tx) EnrollToken(id string) (store.EnrollToken, error) {
	return get[store.EnrollToken](t.tx, bEnrollTokens, id)
}
func (t *Tx) PutEnrollToken(v store.EnrollToken) error { return put(t.tx, bEnrollTokens, v.ID, v) }
func (t *Tx) EnrollTokens(f store.Filter, p store.Page) ([]store.EnrollToken, string, error) {
	return list(t.tx, bEnrollTokens, p, byTenant(f, func(v store.EnrollToken) string { return v.Tenant }))
}

// Claims are keyed by claim ID, then tenant, so that ClaimsOn is one
// prefix scan. A claim ID holds no NUL (the tower refuses control
// characters in serials).
func claimKey(tenant, id string) string { return id + "\x00" + tenant }

func (t *Tx) Claim(tenant, id string) (store.Claim, error) {
	return get[store.Claim](t.tx, bClaims, claimKey(tenant, id))
}
func (t *Tx) PutClaim(v store.Claim) error { return put(t.tx, bClaims, claimKey(v.Tenant, v.ID), v) }
func (t *Tx) DeleteClaim(tenant, id string) error {
	return del(t.tx, bClaims, claimKey(tenant, id))
}

// ClaimsOn returns every tenant's claim on id.
func (t *Tx) ClaimsOn(id string) ([]store.Claim, error) {
	var out []store.Claim
	prefix := []byte(id + "\x00")
	c := t.tx.Bucket(bClaims).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var cl store.Claim
		if err := json.Unmarshal(v, &cl); err != nil {
			return nil, fmt.Errorf("decode claim %q: %w", k, err)
		}
		out = append(out, cl)
	}
	return out, nil
}
func (t *Tx) Claims(f store.Filter, p store.Page) ([]store.Claim, string, error) {
	return list(t.tx, bClaims, p, byTenant(f, func(v store.Claim) string { return v.Tenant }))
}

func (t *Tx) Pending(ek string) (store.Pending, error) { return get[store.Pending](t.tx, bPending, ek) }
func (t *Tx) PutPending(v store.Pending) error         { return put(t.tx, bPending, v.EKHash, v) }
func (t *Tx) DeletePending(ek string) error            { return del(t.tx, bPending, ek) }
func (t *Tx) PendingList(p store.Page) ([]store.Pending, string, error) {
	return list[store.Pending](t.tx, bPending, p, nil)
}

// PendingCount walks the bucket; the queue is capped, so this stays cheap.
func (t *Tx) PendingCount() (int, error) { return t.tx.Bucket(bPending).Stats().KeyN, nil }

func (t *Tx) Site(id string) (store.Site, error) { return get[store.Site](t.tx, bSites, id) }

func (t *Tx) SiteByEK(ek string) (store.Site, error) {
	id := t.tx.Bucket(bSitesByEK).Get([]byte(ek))
	if id == nil {
		return store.Site{}, fmt.Errorf("site with EK %s: %w", ek, store.ErrNotFound)
	}
	return t.Site(string(id))
}

func (t *Tx) SiteByName(tenant, name string) (store.Site, error) {
	id := t.tx.Bucket(bSitesByName).Get(nameKey(tenant, name))
	if id == nil {
		return store.Site{}, fmt.Errorf("site %s in tenant %s: %w", name, tenant, store.ErrNotFound)
	}
	return t.Site(string(id))
}

// nameKey joins tenant and name with a byte neither may contain.
func nameKey(tenant, name string) []byte { return []byte(tenant + "\x00" + name) }

// PutSite writes the site and moves its index entries when its EK hash,
// tenant or name changed.
func (t *Tx) PutSite(v store.Site) error {
	byEK, byName := t.tx.Bucket(bSitesByEK), t.tx.Bucket(bSitesByName)
	if v.EKHash != "" {
		if id := byEK.Get([]byte(v.EKHash)); id != nil && string(id) != v.ID {
			return fmt.Errorf("EK %s belongs to site %s: %w", v.EKHash, id, store.ErrExists)
		}
	}
	if id := byName.Get(nameKey(v.Tenant, v.Name)); id != nil && string(id) != v.ID {
		return fmt.Errorf("name %q in tenant %s belongs to site %s: %w", v.Name, v.Tenant, id, store.ErrExists)
	}
	if data := t.tx.Bucket(bSites).Get([]byte(v.ID)); data != nil {
		var old store.Site
		if err := json.Unmarshal(data, &old); err != nil {
			return fmt.Errorf("decode site %s: %w", v.ID, err)
		}
		if old.EKHash != "" && old.EKHash != v.EKHash {
			byEK.Delete([]byte(old.EKHash))
		}
		if old.Tenant != v.Tenant || old.Name != v.Name {
			byName.Delete(nameKey(old.Tenant, old.Name))
		}
	}
	if v.EKHash != "" {
		if err := byEK.Put([]byte(v.EKHash), []byte(v.ID)); err != nil {
			return err
		}
	}
	if err := byName.Put(nameKey(v.Tenant, v.Name), []byte(v.ID)); err != nil {
		return err
	}
	return put(t.tx, bSites, v.ID, v)
}

// Sites scans with the filter; at a bbolt tower's scale (tens of
// thousands of sites) a scan per page is cheaper than more indexes to keep
// right.
func (t *Tx) Sites(f store.Filter, p store.Page) ([]store.Site, string, error) {
	var keep func(store.Site) bool
	if f.Tenant != "" || f.Name != "" {
		keep = func(s store.Site) bool {
			return (f.Tenant == "" || s.Tenant == f.Tenant) && (f.Name == "" || s.Name == f.Name)
		}
	}
	return list(t.tx, bSites, p, keep)
}

func (t *Tx) Challenge(id string) (store.Challenge, error) {
	return get[store.Challenge](t.tx, bChallenges, id)
}
func (t *Tx) PutChallenge(v store.Challenge) error { return put(t.tx, bChallenges, v.ID, v) }

// DeleteChallenges also drops records it cannot decode: a challenge is
// worth nothing once unreadable, and keeping it would keep it forever.
func (t *Tx) DeleteChallenges(before time.Time) (int, error) {
	return deleteExpired(t, bChallenges, before, func(c store.Challenge) time.Time { return c.ExpiresAt })
}
