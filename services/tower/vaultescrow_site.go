package tower

import (
	"bytes"
	"crypto"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/google/go-attestation/attest"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/tower/store"
)

// vaultNonceTTL bounds how long a site has between asking for a nonce and
// sending its quote: a quote made long ago says little about now.
const vaultNonceTTL = 2 * time.Minute

// vaultPendingRetry is how often a pending site asks again.
const vaultPendingRetry = 10 * time.Second

// vaultEscrowKey gives the site the public key to seal its master key to.
func (s *Server) vaultEscrowKey(w http.ResponseWriter, r *http.Request, p principal) error {
	writeJSON(w, http.StatusOK, enrollapi.VaultEscrowKey{Suite: enrollapi.VaultEscrowSuite, PublicKey: s.escrow().PublicKey().Bytes()})
	return nil
}

// vaultEscrow keeps the site's sealed master key, with the EK and AK a
// release will be bound to. The EK must be the one the site enrolled with;
// the AK must be a restricted key made in a TPM (its creation is
// certified); the blob must open with the escrow key, for this site.
func (s *Server) vaultEscrow(w http.ResponseWriter, r *http.Request, p principal) error {
	in, err := decode[enrollapi.VaultEscrow](w, r)
	if err != nil {
		return err
	}
	site := *p.site
	if site.Software || site.EKHash == "" {
		return refuse(ErrForbidden, "site %s has a software identity: with no TPM to bind a released key to, it gets no remote unseal", site.ID)
	}
	sum := sha256.Sum256(in.EKPublic)
	if hex.EncodeToString(sum[:]) != site.EKHash {
		return refuse(ErrForbidden, "ekPublic is not the EK site %s enrolled with", site.ID)
	}
	ek, err := parseEK(enrollapi.EnrollStart{EKPublic: in.EKPublic})
	if err != nil {
		return err
	}
	ap := attest.ActivationParameters{EK: ek, AK: in.AK.Attest()}
	if err := ap.CheckAKParameters(); err != nil {
		return refuse(ErrAKInvalid, "AK parameters of site %s do not describe a restricted key created in a TPM: %v", site.ID, err)
	}
	if in.Generation < 1 {
		return refuse(ErrBadRequest, "generation %d: the vault's master key generation is 1 or more", in.Generation)
	}
	key, err := hpke.Open(s.escrow(), escrowKDF, escrowAEAD, enrollapi.VaultEscrowInfo(site.ID), in.Blob)
	if err != nil || len(key) != 32 {
		return refuse(ErrBadRequest, "the escrow blob does not open with this tower's escrow key for site %s: fetch the key again (GET %s) and seal to it", site.ID, enrollapi.PathVaultEscrowKey)
	}
	clear(key)
	e := store.VaultEscrow{
		Site: site.ID, Blob: in.Blob, Generation: in.Generation, EKPublic: in.EKPublic,
		AKPublic: in.AK.Public, AKCreate: in.AK.CreateAttestation, AKCreateD: in.AK.CreateData,
		AKCreateS: in.AK.CreateSignature, StoredAt: s.now(),
	}
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		cur, err := tx.Site(site.ID)
		if err != nil {
			return err
		}
		if cur.Revoked {
			return refuse(ErrSiteRevoked, "site %s was revoked", site.ID)
		}
		return tx.PutVaultEscrow(e)
	})
	if err != nil {
		return err
	}
	s.log.Info("vault key escrowed", "site", site.ID, "tenant", site.Tenant, "generation", in.Generation)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// vaultNonce issues a one-use nonce for the site's next unseal request.
func (s *Server) vaultNonce(w http.ResponseWriter, r *http.Request, p principal) error {
	nonce := make([]byte, 20) // TPM2_Quote's extra data: 20 bytes fits every TPM
	rand.Read(nonce)
	now := s.now()
	n := store.VaultNonce{ID: hex.EncodeToString(nonce), Site: p.site.ID, ExpiresAt: now.Add(vaultNonceTTL)}
	err := s.store.Update(r.Context(), func(tx store.Tx) error {
		if _, err := tx.DeleteVaultNonces(now); err != nil {
			return err
		}
		return tx.PutVaultNonce(n)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, enrollapi.VaultNonce{Nonce: nonce, ExpiresAt: n.ExpiresAt})
	return nil
}

// vaultUnseal decides a site's ask for its master key. The nonce is used
// up first, in its own transaction, so that no refusal below leaves it
// usable for a second try: every request needs a fresh nonce and quote.
func (s *Server) vaultUnseal(w http.ResponseWriter, r *http.Request, p principal) error {
	in, err := decode[enrollapi.VaultUnseal](w, r)
	if err != nil {
		return err
	}
	if err := checkUnsealFields(in); err != nil {
		return err
	}
	siteID := p.site.ID
	now := s.now()
	var esc store.VaultEscrow
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		n, err := tx.VaultNonce(hex.EncodeToString(in.Nonce))
		switch {
		case errors.Is(err, store.ErrNotFound) || (err == nil && n.Site != siteID):
			// Another site's nonce is unknown to this one: it learns nothing.
			return refuse(ErrNonceUnknown, "nonce was not issued to site %s (or is forgotten): ask for a new one (POST %s)", siteID, enrollapi.PathVaultNonce)
		case err != nil:
			return err
		case n.Used:
			return refuse(ErrNonceUsed, "nonce was used already (a replayed request): ask for a new one (POST %s)", enrollapi.PathVaultNonce)
		case now.After(n.ExpiresAt):
			return refuse(ErrNonceExpired, "nonce expired at %s: ask for a new one (POST %s)", n.ExpiresAt.Format(time.RFC3339), enrollapi.PathVaultNonce)
		}
		n.Used = true
		if err := tx.PutVaultNonce(n); err != nil {
			return err
		}
		esc, err = tx.VaultEscrow(siteID)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return refuse(ErrNoEscrow, "site %s never escrowed its vault key: a vault escrows at the first report after it unseals", siteID)
	}
	if err != nil {
		return err
	}
	sealed, err := verifyUnsealQuote(esc, in)
	if err != nil {
		return err
	}
	id := unsealRequestID(siteID, sealed)
	var req store.UnsealRequest
	release := false
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		site, err := tx.Site(siteID)
		if err != nil {
			return err
		}
		if site.Revoked {
			return refuse(ErrSiteRevoked, "site %s was revoked: no remote unseal", site.ID)
		}
		req, err = tx.UnsealRequest(id)
		if errors.Is(err, store.ErrNotFound) {
			req = store.UnsealRequest{ID: id, Site: site.ID, Tenant: site.Tenant, SiteName: site.Name,
				State: enrollapi.UnsealPending, PCRs: sealed, CreatedAt: now}
		} else if err != nil {
			return err
		}
		req.ChangedPCRs, req.Image, req.EventLog = in.ChangedPCRs, site.ImageVersion, in.EventLog
		req.LastAsked = now
		req.Asks++
		switch {
		case req.State == enrollapi.UnsealRefused:
			if err := tx.PutUnsealRequest(req); err != nil {
				return err
			}
			return nil
		case req.State == enrollapi.UnsealApproved:
			release = true
		default:
			// Released before and asked again (the answer was lost, or
			// the vault could not use it): approving once means once.
			if req.State == enrollapi.UnsealReleased {
				req.State, req.DecidedBy, req.DecidedAt = enrollapi.UnsealPending, "", time.Time{}
			}
			approvals, err := tx.PCRApprovals()
			if err != nil {
				return err
			}
			if a, ok := matchApproval(approvals, site.Tenant, sealed); ok {
				release, req.Approval = true, a.ID
			}
		}
		if release {
			req.State, req.ReleasedAt = enrollapi.UnsealReleased, now
		}
		return tx.PutUnsealRequest(req)
	})
	if err != nil {
		return err
	}
	out := enrollapi.VaultUnsealResult{State: req.State, Request: req.ID}
	switch {
	case req.State == enrollapi.UnsealRefused:
		return refuse(ErrUnsealRefused, "an operator (%s) refused unseal request %s of site %s: the box stays sealed until it boots an approved image", req.DecidedBy, req.ID, siteID)
	case !release:
		out.RetryAfterSeconds = seconds(vaultPendingRetry)
		out.Message = fmt.Sprintf("unseal request %s waits for an operator: skerryctl tower vault approve %s (or approve-pcrs)", req.ID, req.ID)
		writeJSON(w, http.StatusAccepted, out)
		return nil
	}
	cred, err := releaseTo(s, esc, siteID)
	if err != nil {
		return err
	}
	out.Credential, out.Secret = cred.Credential, cred.Secret
	how := "approved by " + req.DecidedBy
	if req.Approval != "" {
		how = "PCR approval " + req.Approval
	}
	out.Message = "released (" + how + ")"
	s.log.Info("vault key released", "site", siteID, "tenant", req.Tenant, "request", req.ID, "how", how)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// releaseTo opens the escrowed key and wraps it with TPM2_MakeCredential
// to the site's EK for its AK: only that TPM, with that AK loaded, can
// activate it.
func releaseTo(s *Server, esc store.VaultEscrow, site string) (*attest.EncryptedCredential, error) {
	key, err := hpke.Open(s.escrow(), escrowKDF, escrowAEAD, enrollapi.VaultEscrowInfo(site), esc.Blob)
	if err != nil {
		return nil, fmt.Errorf("open escrowed key of site %s: %w", site, err)
	}
	defer clear(key)
	ek, err := parseEK(enrollapi.EnrollStart{EKPublic: esc.EKPublic})
	if err != nil {
		return nil, err
	}
	ap := attest.ActivationParameters{EK: ek, AK: akParameters(esc), Rand: bytes.NewReader(key)}
	secret, cred, err := ap.Generate()
	if err != nil {
		return nil, fmt.Errorf("wrap key of site %s to its TPM: %w", site, err)
	}
	clear(secret)
	return cred, nil
}

// verifyUnsealQuote checks the quote against the escrowed AK, over the
// nonce and the PCR values sent, and returns the verified values of the
// sealed selection (index → SHA-256).
func verifyUnsealQuote(esc store.VaultEscrow, in enrollapi.VaultUnseal) (map[string][]byte, error) {
	ak, err := attest.ParseAKPublic(esc.AKPublic)
	if err != nil {
		return nil, fmt.Errorf("parse escrowed AK: %w", err)
	}
	pcrs := make([]attest.PCR, len(in.PCRs))
	for i, v := range in.PCRs {
		pcrs[i] = attest.PCR{Index: v.Index, Digest: v.SHA256, DigestAlg: crypto.SHA256}
	}
	if err := ak.Verify(attest.Quote{Quote: in.Quote, Signature: in.Signature}, pcrs, in.Nonce); err != nil {
		return nil, refuse(ErrQuoteInvalid, "the quote does not verify against the site's escrowed AK, the nonce and the PCRs sent: %v", err)
	}
	sealed := map[string][]byte{}
	for _, idx := range in.SealedPCRs {
		i := slices.IndexFunc(in.PCRs, func(v enrollapi.VaultPCR) bool { return v.Index == idx })
		if i < 0 {
			return nil, refuse(ErrQuoteInvalid, "sealed PCR %d is not among the quoted PCRs", idx)
		}
		sealed[strconv.Itoa(idx)] = in.PCRs[i].SHA256
	}
	return sealed, nil
}

// checkUnsealFields bounds what a site sends.
func checkUnsealFields(in enrollapi.VaultUnseal) error {
	switch {
	case len(in.Nonce) == 0 || len(in.Quote) == 0 || len(in.Signature) == 0:
		return refuse(ErrBadRequest, "nonce, quote and signature are required")
	case len(in.PCRs) == 0 || len(in.PCRs) > 24:
		return refuse(ErrBadRequest, "%d PCR values: send the 1-24 SHA-256 PCRs the quote covers", len(in.PCRs))
	case len(in.SealedPCRs) == 0 || len(in.SealedPCRs) > 24 || len(in.ChangedPCRs) > 24:
		return refuse(ErrBadRequest, "sealedPcrs must name 1-24 PCRs, changedPcrs at most 24")
	case len(in.EventLog) > enrollapi.MaxVaultEventLog:
		return refuse(ErrBadRequest, "event log of %d bytes: at most %d; send none when it is larger", len(in.EventLog), enrollapi.MaxVaultEventLog)
	}
	for _, i := range append(slices.Clone(in.SealedPCRs), in.ChangedPCRs...) {
		if i < 0 || i > 23 {
			return refuse(ErrBadRequest, "PCR %d: PCRs are 0-23", i)
		}
	}
	return nil
}

// unsealRequestID names a site's request for one set of sealed PCR
// values, so asking again with the same values finds the same request.
func unsealRequestID(site string, pcrs map[string][]byte) string {
	h := sha256.New()
	h.Write([]byte(site + "\x00"))
	keys := make([]string, 0, len(pcrs))
	for k := range pcrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%x;", k, pcrs[k])
	}
	return "ur-" + hex.EncodeToString(h.Sum(nil))[:20]
}

// matchApproval finds a PCR approval for the tenant (or for all) whose
// every value equals the site's at that index; an approval naming a PCR
// outside the site's sealed selection does not match.
func matchApproval(as []store.PCRApproval, tenant string, pcrs map[string][]byte) (store.PCRApproval, bool) {
	for _, a := range as {
		if a.Tenant != "" && a.Tenant != tenant || len(a.PCRs) == 0 {
			continue
		}
		ok := true
		for k, v := range a.PCRs {
			if got, has := pcrs[k]; !has || !bytes.Equal(got, v) {
				ok = false
				break
			}
		}
		if ok {
			return a, true
		}
	}
	return store.PCRApproval{}, false
}

// akParameters are the escrowed AK's creation parameters.
func akParameters(e store.VaultEscrow) attest.AttestationParameters {
	return attest.AttestationParameters{Public: e.AKPublic, CreateData: e.AKCreateD, CreateAttestation: e.AKCreate, CreateSignature: e.AKCreateS}
}
