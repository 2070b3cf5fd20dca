package vault

import (
	"crypto/ecdh"
	"crypto/hpke"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/vaultapi"
	"github.com/skerry/skerry/services/httpjson"
)

// Remote unseal (README "Remote unseal"): the agent carries the master key
// sealed to the tower's escrow key up, and the key the tower released back.

// Escrow seals the master key to the tower's escrow public key (X25519
// HPKE, bound to the site's ID). The vault keeps no copy of the raw key
// while it serves, so it unseals it from the TPM once more for this.
func (v *Vault) Escrow(pub []byte, site string) (vaultapi.Escrowed, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.status.State != vaultapi.StateUnsealed {
		return vaultapi.Escrowed{}, ErrSealed
	}
	pk, err := hpke.DHKEM(ecdh.X25519()).NewPublicKey(pub)
	if err != nil || site == "" {
		return vaultapi.Escrowed{}, invalidf("escrow: want the tower's X25519 public key and the site ID")
	}
	gen := v.status.MasterGeneration
	res, err := v.m.unseal(gen)
	if err != nil {
		return vaultapi.Escrowed{}, fmt.Errorf("escrow: unseal the master key: %w", err)
	}
	defer clear(res.key)
	blob, err := hpke.Seal(pk, hpke.HKDFSHA256(), hpke.AES256GCM(), enrollapi.VaultEscrowInfo(site), res.key)
	if err != nil {
		return vaultapi.Escrowed{}, fmt.Errorf("escrow: %w", err)
	}
	v.log.Info("master key escrowed to the tower", "generation", gen, "site", site)
	return vaultapi.Escrowed{Blob: blob, Generation: gen}, nil
}

// RemoteUnseal opens the store with key, released by the tower, and
// reseals the key to the current PCR values (same key, same generation:
// the tower's escrow stays valid), so the next boot unseals by itself.
func (v *Vault) RemoteUnseal(key []byte) (vaultapi.Status, error) {
	st, err := v.remoteUnseal(key)
	if err == nil {
		if err := v.refreshFiles("", ""); err != nil {
			v.log.Error("write apps' secret files", "err", err)
		}
	}
	return st, err
}

func (v *Vault) remoteUnseal(key []byte) (vaultapi.Status, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.status.State == vaultapi.StateUnsealed {
		return v.status, nil
	}
	gen := v.status.MasterGeneration
	if gen == 0 {
		return v.status, invalidf("remote unseal: the vault has no master key generation yet")
	}
	if err := v.Store.Unlock(key, gen); err != nil {
		if errors.Is(err, ErrWrongMaster) {
			return v.status, &httpjson.Error{Status: http.StatusConflict, Code: vaultapi.CodeWrongKey,
				Message: fmt.Sprintf("remote unseal: %v (was the key escrowed before a rotation? the agent escrows each generation)", err)}
		}
		return v.status, err
	}
	changed := v.status.ChangedPCRs
	st := v.status
	st.State, st.Reason, st.ChangedPCRs, st.UnsealedAt, st.PCRs = vaultapi.StateUnsealed, "", nil, time.Now().UTC(), v.m.pcrs
	if err := v.m.seal(key, gen); err != nil {
		// Unsealed for this boot; the next boot asks the tower again.
		v.log.Error("remote unseal: reseal to the current PCRs failed; the next boot will ask the tower again", "err", err)
		st.PCRs = v.status.PCRs
	} else {
		v.log.Info("vault unsealed by the tower and resealed to the current PCRs", "changed_pcrs", changed, "pcrs", v.m.pcrs, "generation", gen)
	}
	v.status = st
	v.retry = false
	return st, nil
}

func escrowHandler(v *Vault, r *http.Request, c *call) (any, error) {
	in, err := decode[vaultapi.Escrow](r)
	if err != nil {
		return nil, err
	}
	return v.Escrow(in.PublicKey, in.Site)
}

func remoteUnsealHandler(v *Vault, r *http.Request, c *call) (any, error) {
	in, err := decode[vaultapi.RemoteUnseal](r)
	if err != nil {
		return nil, err
	}
	defer clear(in.Key)
	return v.RemoteUnseal(in.Key)
}
