// Package boltstore is the tower's embedded store: one bbolt file, one
// bucket per kind of record, JSON values keyed by ID.
package boltstore

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/skerry/skerry/services/tower/store"
)

// Buckets. The *ByEK and *ByName buckets are indexes into sites.
var (
	bTenants      = []byte("tenants")
	bOpTokens     = []byte("operator-tokens")
	bEnrollTokens = []byte("enroll-tokens")
	bClaims       = []byte("claims")
	bPending      = []byte("pending")
	bSites        = []byte("sites")
	bSitesByEK    = []byte("sites-by-ek")
	bSitesByName  = []byte("sites-by-name")
	bChallenges   = []byte("challenges")
	bApps         = []byte("apps")
	bDeployments  = []byte("deployments")
	bSecrets      = []byte("secrets")
)

var buckets = [][]byte{bTenants, bOpTokens, bEnrollTokens, bClaims, bPending, bSites, bSitesByEK, bSitesByName, bChallenges, bApps, bDeployments,
	bVaultEscrows, bVaultNonces, bUnsealRequests, bPCRApprovals, bSecrets, bHubs}

// DB is a store.Store in a bbolt file.
type DB struct {
	db *bolt.DB
}

var _ store.Store = (*DB)(nil)

// Open opens or creates the store at path.
func Open(path string) (*DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open tower store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range buckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("create buckets: %w", err)
	}
	return &DB{db: db}, nil
}

// View runs fn in a read-only transaction.
func (d *DB) View(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return d.db.View(func(tx *bolt.Tx) error { return fn(&Tx{tx: tx}) })
}

// Update runs fn in a read-write transaction.
func (d *DB) Update(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return d.db.Update(func(tx *bolt.Tx) error { return fn(&Tx{tx: tx}) })
}

// Close closes the file.
func (d *DB) Close() error { return d.db.Close() }
