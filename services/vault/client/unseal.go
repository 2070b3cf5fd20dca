package client

import (
	"context"

	"github.com/skerry/skerry/services/api/vaultapi"
)

// Escrow has the vault seal its master key to the tower's escrow public
// key for site (system token).
func (c *Client) Escrow(ctx context.Context, site string, pub []byte) (vaultapi.Escrowed, error) {
	return call[vaultapi.Escrowed](c, ctx, "POST", "/v1/escrow", vaultapi.Escrow{Site: site, PublicKey: pub})
}

// RemoteUnseal gives the vault the master key the tower released (system
// token); the vault reseals it to the current PCRs.
func (c *Client) RemoteUnseal(ctx context.Context, key []byte) (vaultapi.Status, error) {
	return call[vaultapi.Status](c, ctx, "POST", "/v1/unseal", vaultapi.RemoteUnseal{Key: key})
}
