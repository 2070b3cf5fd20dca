package boltstore

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/skerry/skerry/services/tower/store"
)

// Buckets of the vault escrow records, keyed by site, nonce, request and
// approval ID.
var (
	bVaultEscrows   = []byte("vault-escrows")
	bVaultNonces    = []byte("vault-nonces")
	bUnsealRequests = []byte("vault-unseal-requests")
	bPCRApprovals   = []byte("vault-pcr-approvals")
)

func (t *Tx) VaultEscrow(site string) (store.VaultEscrow, error) {
	return get[store.VaultEscrow](t.tx, bVaultEscrows, site)
}
func (t *Tx) PutVaultEscrow(v store.VaultEscrow) error { return put(t.tx, bVaultEscrows, v.Site, v) }

func (t *Tx) VaultNonce(id string) (store.VaultNonce, error) {
	return get[store.VaultNonce](t.tx, bVaultNonces, id)
}
func (t *Tx) PutVaultNonce(v store.VaultNonce) error { return put(t.tx, bVaultNonces, v.ID, v) }

// DeleteVaultNonces drops expired nonces, and any it cannot decode.
func (t *Tx) DeleteVaultNonces(before time.Time) (int, error) {
	return deleteExpired(t, bVaultNonces, before, func(n store.VaultNonce) time.Time { return n.ExpiresAt })
}

// deleteExpired deletes the records of bucket that expired before t, and
// those it cannot decode: a short-lived record is worth nothing once
// unreadable, and keeping it would keep it forever.
func deleteExpired[T any](t *Tx, bucket []byte, before time.Time, expires func(T) time.Time) (int, error) {
	c := t.tx.Bucket(bucket).Cursor()
	n := 0
	for k, v := c.First(); k != nil; {
		var r T
		if err := json.Unmarshal(v, &r); err != nil || expires(r).Before(before) {
			k = append([]byte(nil), k...) // k is bbolt's memory; keep it past Delete
			if err := c.Delete(); err != nil {
				return n, fmt.Errorf("delete %s %s: %w", bucket, k, err)
			}
			n++
			// Seek finds the key after the deleted one.
			k, v = c.Seek(k)
			continue
		}
		k, v = c.Next()
	}
	return n, nil
}

func (t *Tx) UnsealRequest(id string) (store.UnsealRequest, error) {
	return get[store.UnsealRequest](t.tx, bUnsealRequests, id)
}
func (t *Tx) PutUnsealRequest(v store.UnsealRequest) error {
	return put(t.tx, bUnsealRequests, v.ID, v)
}
func (t *Tx) UnsealRequests(f store.Filter, p store.Page) ([]store.UnsealRequest, string, error) {
	return list(t.tx, bUnsealRequests, p, byTenant(f, func(v store.UnsealRequest) string { return v.Tenant }))
}

func (t *Tx) PCRApproval(id string) (store.PCRApproval, error) {
	return get[store.PCRApproval](t.tx, bPCRApprovals, id)
}
func (t *Tx) PutPCRApproval(v store.PCRApproval) error { return put(t.tx, bPCRApprovals, v.ID, v) }
func (t *Tx) DeletePCRApproval(id string) error        { return del(t.tx, bPCRApprovals, id) }
func (t *Tx) PCRApprovals() ([]store.PCRApproval, error) {
	var out []store.PCRApproval
	err := scan(t, bPCRApprovals, nil, func(a store.PCRApproval) { out = append(out, a) })
	return out, err
}
