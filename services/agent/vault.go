package agent

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/vaultapi"
	"github.com/skerry/skerry/services/contract"
	vclient "github.com/skerry/skerry/services/vault/client"
)

// Secrets from the tower (README.md, "Secrets"): the agent reports the
// public half of the vault's site key with its status, so the tower can
// seal the site's secrets to it, and hands the sealed envelopes of each
// desired state to the vault, which alone opens them. The agent never
// sees a value.

// DefaultVaultTokenFile is the vault's system token on a box.
const DefaultVaultTokenFile = contract.PermMount + "/vault/system.token"

// vaultTimeout bounds one call to the vault.
const vaultTimeout = 30 * time.Second

// WithVault sets the vault's socket and system token file (default
// contract.VaultSocket and DefaultVaultTokenFile); socket "" turns
// secrets off.
func WithVault(socket, tokenFile string) Option {
	return func(a *Agent) { a.vaultSocket, a.vaultTokenFile = socket, tokenFile }
}

// vaultKey is the vault's site public key for the status report; nil
// when the vault is off, away or sealed (the tower keeps the last one).
func (a *Agent) vaultKey(ctx context.Context) []byte {
	if a.vaultSocket == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c := vclient.New(a.vaultSocket, "")
	defer c.Close()
	k, err := c.SiteKey(ctx)
	if err != nil {
		a.log.Debug(fmt.Sprintf("no vault key for the report: %v", err))
		return nil
	}
	return k.Public
}

// handSecrets gives the vault the secrets of d, sealed for site. A
// desired state without a key ID is no news about secrets: the tower does
// not know the vault's key yet.
func (a *Agent) handSecrets(ctx context.Context, site string, d enrollapi.Desired, n *narrator) {
	if a.vaultSocket == "" || d.SiteKeyID == "" {
		return
	}
	err := func() error {
		tok, err := os.ReadFile(a.vaultTokenFile)
		if err != nil {
			return fmt.Errorf("the vault's system token: %w", err)
		}
		ctx, cancel := context.WithTimeout(ctx, vaultTimeout)
		defer cancel()
		c := vclient.New(a.vaultSocket, strings.TrimSpace(string(tok)))
		defer c.Close()
		res, err := c.PutSiteSecrets(ctx, vaultapi.SiteSecrets{Site: site, KeyID: d.SiteKeyID, Secrets: d.Secrets})
		if err != nil {
			return err
		}
		if res.Stored+res.Deleted > 0 {
			a.log.Info(fmt.Sprintf("secrets of desired state %s handed to the vault: %d stored, %d deleted, %d unchanged", d.Revision, res.Stored, res.Deleted, res.Unchanged))
		}
		var refused []string
		for _, r := range res.Refused {
			// The vault names why; the value never reaches the agent.
			refused = append(refused, fmt.Sprintf("%s/%s: %s", r.Tenant, r.Name, r.Reason))
		}
		if refused != nil {
			return fmt.Errorf("the vault refused %s", strings.Join(refused, "; "))
		}
		return nil
	}()
	if err != nil {
		n.say(a.log, "error", fmt.Sprintf("secrets of desired state %s: %v; the vault keeps what it has", d.Revision, err))
		return
	}
	*n = narrator{}
}
