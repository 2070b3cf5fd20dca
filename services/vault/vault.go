package vault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/skerry/skerry/services/api/vaultapi"
	"github.com/skerry/skerry/services/vault/seal"
)

// Options configure Open.
type Options struct {
	// Dir holds the store (vault.db), the sealed master key files and the
	// system token: contract.Home("vault") on a box.
	Dir string
	// TPM is the TPM to seal to: tpm.DefaultPath or "unix:SOCKET".
	TPM string
	// PCRs is the SHA-256 PCR selection a new master key is sealed to
	// (default seal.DefaultPCRs). An existing key stays sealed to the
	// selection in its file until the master key is rotated.
	PCRs []int
	Log  *slog.Logger
	// Audit receives every access; nil records nothing.
	Audit *Auditor
	// FilesRoot is where apps' secrets are written as files (default
	// DefaultFilesRoot).
	FilesRoot string
}

// Vault is the service's state: the store, the master key's sealed files,
// and whether the master key is unsealed.
type Vault struct {
	Store *Store
	Auth  *Auth
	audit *Auditor
	log   *slog.Logger
	m     master

	filesRoot string

	mu     sync.Mutex // serialises master key changes; guards status, retry
	status vaultapi.Status
	// retry says the vault is sealed for a reason another try may cure:
	// the TPM could not be reached (a driver still loading), not a
	// changed PCR or a refused blob.
	retry bool
}

// Open opens the vault in o.Dir and unseals its master key (making and
// sealing one on first start). A master key that cannot be unsealed does
// not fail Open: the vault starts sealed, Status says why, and tenant
// calls answer ErrSealed, so the box still boots.
func Open(o Options) (*Vault, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if len(o.PCRs) == 0 {
		o.PCRs = seal.DefaultPCRs
	}
	if o.FilesRoot == "" {
		o.FilesRoot = DefaultFilesRoot
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("open vault: %w", err)
	}
	store, err := OpenStore(filepath.Join(o.Dir, "vault.db"))
	if err != nil {
		return nil, err
	}
	auth, err := loadAuth(o.Dir, store)
	if err != nil {
		store.Close()
		return nil, err
	}
	v := &Vault{Store: store, Auth: auth, audit: o.Audit, log: o.Log, m: master{dir: o.Dir, tpm: o.TPM, pcrs: o.PCRs}, filesRoot: o.FilesRoot}
	v.unseal()
	if v.Store.Unlocked() {
		// The tmpfs is empty after a reboot: write the apps' files again.
		if err := v.refreshFiles("", ""); err != nil {
			v.log.Error("write apps' secret files", "err", err)
		}
	}
	return v, nil
}

// Close closes the store.
func (v *Vault) Close() error { return v.Store.Close() }

// unseal brings the master key in, or records why it cannot.
func (v *Vault) unseal() {
	v.mu.Lock()
	defer v.mu.Unlock()
	start := time.Now()
	st, err := v.unsealLocked()
	v.retry = false
	if err != nil {
		st.State, st.Reason = vaultapi.StateSealed, err.Error()
		v.retry = !errors.Is(err, seal.ErrPCRMismatch) && !errors.Is(err, seal.ErrRefused) &&
			!errors.Is(err, seal.ErrBadBlob) && !errors.Is(err, ErrWrongMaster)
		var me *seal.MismatchError
		if errors.As(err, &me) {
			st.ChangedPCRs = me.Changed
			st.Reason = fmt.Sprintf("%v: the boot chain changed since the master key was sealed; "+
				"boot the image it was sealed under, or have the tower release the key (remote unseal)", err)
		}
		// The reason goes in the message: the console shows an error's
		// message only, and it must say which PCRs differ.
		v.log.Error("vault sealed: "+st.Reason, "changed_pcrs", st.ChangedPCRs)
	} else {
		st.State, st.UnsealedAt = vaultapi.StateUnsealed, time.Now().UTC()
		v.log.Info("vault unsealed", "generation", st.MasterGeneration, "pcrs", st.PCRs,
			"tpm_commands", st.UnsealCommands, "took", time.Since(start))
	}
	v.status = st
}

func (v *Vault) unsealLocked() (vaultapi.Status, error) {
	gen, err := v.Store.MasterGeneration()
	if err != nil {
		return vaultapi.Status{}, err
	}
	st := vaultapi.Status{MasterGeneration: gen}
	if gen == 0 {
		// A new store. A sealed file of generation 1 is a first start
		// cut short after sealing: use its key. Else make one.
		st.MasterGeneration = 1
		if !v.m.exists(1) {
			if err := v.m.seal(newMasterKey(), 1); err != nil {
				return st, fmt.Errorf("seal a new master key: %w", err)
			}
			v.log.Info("sealed a new master key", "pcrs", v.m.pcrs)
		}
	}
	res, err := v.m.unseal(st.MasterGeneration)
	st.PCRs, st.UnsealCommands = res.pcrs, res.commands
	if err != nil {
		return st, err
	}
	if err := v.Store.Unlock(res.key, st.MasterGeneration); err != nil {
		return st, err
	}
	if err := v.m.removeOthers(st.MasterGeneration); err != nil {
		v.log.Warn("remove stale sealed master keys", "err", err)
	}
	return st, nil
}

// KeepUnsealing tries the unseal again every interval while the vault is
// sealed for a reason a retry may cure, until it unseals or ctx ends.
func (v *Vault) KeepUnsealing(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		v.mu.Lock()
		again := v.retry
		v.mu.Unlock()
		if !again {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		v.unseal()
		if v.Store.Unlocked() {
			if err := v.refreshFiles("", ""); err != nil {
				v.log.Error("write apps' secret files", "err", err)
			}
		}
	}
}

// Status is the vault's state.
func (v *Vault) Status() vaultapi.Status {
	v.mu.Lock()
	st := v.status
	v.mu.Unlock()
	st.AuditDropped = v.audit.Dropped()
	return st
}

// RotateMaster makes a new master key, seals it to the current PCR
// values, and rewraps every data key under it. The order keeps a crash
// safe: the new key's file is written first, the store switches in one
// transaction, and only then is the old file removed; Open uses the
// generation the store names and removes the other.
func (v *Vault) RotateMaster() (vaultapi.Status, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.status.State != vaultapi.StateUnsealed {
		return v.status, ErrSealed
	}
	gen := v.status.MasterGeneration + 1
	key := newMasterKey()
	if err := v.m.seal(key, gen); err != nil {
		return v.status, fmt.Errorf("rotate master key: %w", err)
	}
	if err := v.Store.RotateMaster(key, gen); err != nil {
		return v.status, err
	}
	if err := v.m.removeOthers(gen); err != nil {
		v.log.Warn("remove the old sealed master key", "err", err)
	}
	v.status.MasterGeneration, v.status.PCRs = gen, v.m.pcrs
	v.log.Info("rotated the master key", "generation", gen)
	return v.status, nil
}
