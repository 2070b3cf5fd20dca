// Package store defines what the tower keeps and the interface its storage
// implements. The API code sees only Store and Tx, so a PostgreSQL store can
// replace the embedded bbolt one (package boltstore) without touching it.
//
// A Tx is a transaction: the tower makes every decision that must be atomic
// (use a challenge once, count a token's uses, give an EK one site) inside
// one Update. Records are plain values; the store keeps no policy.
package store

import (
	"context"
	"time"
)

// Store opens transactions.
type Store interface {
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a read-write transaction, committed when fn
	// returns nil and rolled back otherwise.
	Update(ctx context.Context, fn func(Tx) error) error
	Close() error
}

// Tx reads and writes records. Get methods return ErrNotFound when there is
// no such record; Put methods create or replace. List methods return one
// page: at most page.Limit records after page.Cursor, and the cursor of the
// next page ("" on the last one).
type Tx interface {
	Tenant(id string) (Tenant, error)
	PutTenant(Tenant) error
	Tenants(Page) ([]Tenant, string, error)

	OperatorToken(id string) (OperatorToken, error)
	PutOperatorToken(OperatorToken) error
	OperatorTokens(f Filter, p Page) ([]OperatorToken, string, error)

	EnrollToken(id string) (EnrollToken, error)
	PutEnrollToken(EnrollToken) error
	EnrollTokens(f Filter, p Page) ([]EnrollToken, string, error)

	// Claims are per tenant: tenants may claim the same EK hash or serial
	// without learning of each other; the enrollment policy decides
	// between them (ClaimsOn returns every tenant's claim on one ID).
	Claim(tenant, id string) (Claim, error)
	PutClaim(Claim) error
	DeleteClaim(tenant, id string) error
	ClaimsOn(id string) ([]Claim, error)
	Claims(f Filter, p Page) ([]Claim, string, error)

	Pending(ekHash string) (Pending, error)
	PutPending(Pending) error
	DeletePending(ekHash string) error
	PendingList(Page) ([]Pending, string, error)
	PendingCount() (int, error)

	Site(id string) (Site, error)
	// PutSite also maintains the indexes behind SiteByEK and SiteByName; it
	// returns ErrExists when another site holds the EK hash or the name in
	// the tenant.
	PutSite(Site) error
	SiteByEK(ekHash string) (Site, error)
	SiteByName(tenant, name string) (Site, error)
	Sites(f Filter, p Page) ([]Site, string, error)

	// App is one version of an app; version 0 is the newest.
	App(tenant, name string, version int) (App, error)
	// PutApp stores a new version; its Version must be the newest + 1.
	PutApp(App) error
	// AppVersions lists an app's versions, oldest first.
	AppVersions(tenant, name string) ([]App, error)
	// Apps lists the newest version of each app of a tenant, by name.
	Apps(tenant string) ([]App, error)
	// DeleteApp deletes every version of an app.
	DeleteApp(tenant, name string) error

	Deployment(tenant, app string) (Deployment, error)
	PutDeployment(Deployment) error
	DeleteDeployment(tenant, app string) error
	// Deployments lists a tenant's deployments, by app name.
	Deployments(tenant string) ([]Deployment, error)

	// Secret is a tenant's secret set at the tower (its newest version).
	Secret(tenant, name string) (Secret, error)
	PutSecret(Secret) error
	DeleteSecret(tenant, name string) error
	// Secrets lists a tenant's secrets, by name.
	Secrets(tenant string) ([]Secret, error)

	Challenge(id string) (Challenge, error)
	PutChallenge(Challenge) error
	// DeleteChallenges removes challenges that expired before t.
	DeleteChallenges(before time.Time) (int, error)

	// Vault escrow and remote unseal (vault.go). DeleteVaultNonces
	// removes nonces that expired before t.
	VaultEscrow(site string) (VaultEscrow, error)
	PutVaultEscrow(VaultEscrow) error
	VaultNonce(id string) (VaultNonce, error)
	PutVaultNonce(VaultNonce) error
	DeleteVaultNonces(before time.Time) (int, error)
	UnsealRequest(id string) (UnsealRequest, error)
	PutUnsealRequest(UnsealRequest) error
	UnsealRequests(f Filter, p Page) ([]UnsealRequest, string, error)
	PCRApproval(id string) (PCRApproval, error)
	PutPCRApproval(PCRApproval) error
	DeletePCRApproval(id string) error
	PCRApprovals() ([]PCRApproval, error)

	// Hubs the tower issued certificates to (hubs.go).
	Hub(id string) (Hub, error)
	PutHub(Hub) error
	Hubs(Page) ([]Hub, string, error)
}

// Page selects one page of a list.
type Page struct {
	Limit  int
	Cursor string
}

// Filter narrows a list; zero fields match everything.
type Filter struct {
	Tenant string
	Name   string // sites only
}
