package agent

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-attestation/attest"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/vaultapi"
	vaultclient "github.com/skerry/skerry/services/vault/client"
)

// The vault's side of the agent (README "Vault escrow and remote unseal"):
// at each status report the agent reads the vault's status and reports
// it; when the vault is unsealed and its master key generation is not
// escrowed yet, it carries the escrow blob to the tower; when the vault
// is sealed because PCRs changed, it asks the tower for the key with a
// fresh quote, and hands a released key to the vault.

// vaultSide is what the agent remembers about the vault between reports.
type vaultSide struct {
	escrowed int // master key generation escrowed at the tower this run
	n        narrator
}

// vaultStep runs once per status report and returns the vault's state
// for it (nil without a vault).
func (a *Agent) vaultStep(ctx context.Context, c *towerClient, id *Identity) *enrollapi.VaultReport {
	if a.vaultSocket == "" || id.Software || a.tpm == nil {
		return nil
	}
	if _, err := os.Stat(a.vaultSocket); err != nil {
		return nil // no vault on this box (or not yet)
	}
	tok, _ := os.ReadFile(a.vaultTokenFile)
	vc := vaultclient.New(a.vaultSocket, string(tok))
	defer vc.Close()
	st, err := vc.Status(ctx)
	if err != nil {
		a.vault.n.say(a.log, "error", fmt.Sprintf("read the vault's status: %v", err))
		return nil
	}
	switch {
	case st.State == vaultapi.StateUnsealed && st.MasterGeneration != a.vault.escrowed:
		if err := a.escrow(ctx, c, vc, id, st.MasterGeneration); err != nil {
			a.vault.n.say(a.log, "error", fmt.Sprintf("escrowing the vault's master key (generation %d) at the tower failed: %v; trying again at the next report", st.MasterGeneration, err))
		} else {
			a.vault.escrowed = st.MasterGeneration
			a.log.Info(fmt.Sprintf("vault master key (generation %d) escrowed at the tower", st.MasterGeneration))
		}
	case st.State == vaultapi.StateSealed && len(st.ChangedPCRs) > 0:
		if next, ok := a.askUnseal(ctx, c, vc, id, st); ok {
			st = next
		}
	}
	return &enrollapi.VaultReport{State: st.State, ChangedPCRs: st.ChangedPCRs, Generation: st.MasterGeneration, Reason: clip(st.Reason)}
}

// escrow has the vault seal its key to the tower's escrow key and stores
// the blob at the tower, with the EK and the AK that will quote.
func (a *Agent) escrow(ctx context.Context, c *towerClient, vc *vaultclient.Client, id *Identity, gen int) error {
	var key enrollapi.VaultEscrowKey
	if _, err := c.do(ctx, "GET", enrollapi.PathVaultEscrowKey, nil, &key); err != nil {
		return err
	}
	if key.Suite != enrollapi.VaultEscrowSuite {
		return fmt.Errorf("the tower escrows with %q; this agent knows %q", key.Suite, enrollapi.VaultEscrowSuite)
	}
	blob, err := vc.Escrow(ctx, id.SiteID, key.PublicKey)
	if err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	ek, err := a.ekDER()
	if err != nil {
		return err
	}
	ak, err := a.tpm.LoadAK(id.AK)
	if err != nil {
		return err
	}
	params := ak.Parameters()
	if err := ak.Close(); err != nil {
		return err
	}
	_, err = c.post(ctx, enrollapi.PathVaultEscrow, enrollapi.VaultEscrow{
		Blob: blob.Blob, Generation: blob.Generation, EKPublic: ek, AK: enrollapi.AttestationParametersFrom(params),
	}, nil)
	return err
}

// askUnseal asks the tower for the key; on release it activates the
// credential in the TPM and gives the key to the vault. It returns the
// vault's new status when it unsealed.
func (a *Agent) askUnseal(ctx context.Context, c *towerClient, vc *vaultclient.Client, id *Identity, st vaultapi.Status) (vaultapi.Status, bool) {
	pcrs := joinInts(st.ChangedPCRs)
	res, err := a.requestUnseal(ctx, c, id, st)
	switch {
	case err != nil:
		a.vault.n.say(a.log, "error", fmt.Sprintf("vault sealed (PCR %s differ from the sealed values): asking the tower for a remote unseal failed: %v", pcrs, err))
		return st, false
	case res.State != enrollapi.UnsealReleased:
		a.vault.n.say(a.log, "info", fmt.Sprintf("vault sealed (PCR %s differ from the sealed values): asked the tower for a remote unseal; request %s is %s: %s", pcrs, res.Request, res.State, res.Message))
		return st, false
	}
	key, err := a.activate(id, res)
	if err != nil {
		a.vault.n.say(a.log, "error", fmt.Sprintf("the tower released the vault key (request %s) but this TPM could not activate it: %v", res.Request, err))
		return st, false
	}
	defer clear(key)
	next, err := vc.RemoteUnseal(ctx, key)
	if err != nil {
		a.vault.n.say(a.log, "error", fmt.Sprintf("the tower released the vault key (request %s) but the vault did not take it: %v", res.Request, err))
		return st, false
	}
	a.log.Info(fmt.Sprintf("vault unsealed by the tower (request %s, %s) and resealed to the current PCRs", res.Request, res.Message))
	a.vault.n = narrator{}
	return next, true
}

// requestUnseal gets a nonce, quotes the PCRs over it, and asks.
func (a *Agent) requestUnseal(ctx context.Context, c *towerClient, id *Identity, st vaultapi.Status) (enrollapi.VaultUnsealResult, error) {
	var n enrollapi.VaultNonce
	if _, err := c.post(ctx, enrollapi.PathVaultNonce, struct{}{}, &n); err != nil {
		return enrollapi.VaultUnsealResult{}, err
	}
	in, err := a.tpm.quote(id.AK, n.Nonce)
	if err != nil {
		return enrollapi.VaultUnsealResult{}, err
	}
	in.SealedPCRs, in.ChangedPCRs = st.PCRs, st.ChangedPCRs
	var out enrollapi.VaultUnsealResult
	_, err = c.post(ctx, enrollapi.PathVaultUnseal, in, &out)
	return out, err
}

// activate opens a released key: TPM2_ActivateCredential with the EK and
// the AK the tower bound it to.
func (a *Agent) activate(id *Identity, res enrollapi.VaultUnsealResult) ([]byte, error) {
	ek, err := a.tpm.EK()
	if err != nil {
		return nil, err
	}
	ak, err := a.tpm.LoadAK(id.AK)
	if err != nil {
		return nil, err
	}
	defer ak.Close()
	return ak.ActivateCredential(ek, attest.EncryptedCredential{Credential: res.Credential, Secret: res.Secret})
}

func (a *Agent) ekDER() ([]byte, error) {
	ek, err := a.tpm.EK()
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(ek.Public)
	if err != nil {
		return nil, fmt.Errorf("encode EK: %w", err)
	}
	return der, nil
}

// quote loads the AK, quotes the 24 SHA-256 PCRs over nonce, reads their
// values and, when the firmware left one, the event log.
func (t *TPM) quote(akBlob, nonce []byte) (enrollapi.VaultUnseal, error) {
	ak, err := t.LoadAK(akBlob)
	if err != nil {
		return enrollapi.VaultUnseal{}, err
	}
	defer ak.Close()
	t.mu.Lock()
	defer t.mu.Unlock()
	q, err := ak.ak.Quote(t.t, nonce, attest.HashSHA256)
	if err != nil {
		return enrollapi.VaultUnseal{}, fmt.Errorf("quote PCRs: %w", err)
	}
	pcrs, err := t.t.PCRs(attest.HashSHA256)
	if err != nil {
		return enrollapi.VaultUnseal{}, fmt.Errorf("read PCRs: %w", err)
	}
	out := enrollapi.VaultUnseal{Nonce: nonce, Quote: q.Quote, Signature: q.Signature}
	for _, p := range pcrs {
		out.PCRs = append(out.PCRs, enrollapi.VaultPCR{Index: p.Index, SHA256: p.Digest})
	}
	if log, err := t.t.MeasurementLog(); err == nil && len(log) <= enrollapi.MaxVaultEventLog {
		out.EventLog = log
	}
	return out, nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}
