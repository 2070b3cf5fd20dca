package store

import "time"

// VaultEscrow is a site's vault master key, sealed to the tower's escrow
// key (HPKE), with what binds a release to the site's TPM: its EK and the
// AK that quotes. One per site; a later escrow replaces it.
type VaultEscrow struct {
	Site       string    `json:"site"`
	Blob       []byte    `json:"blob"`
	Generation int       `json:"generation"`
	EKPublic   []byte    `json:"ekPublic"` // PKIX DER, hashes to the site's EKHash
	AKPublic   []byte    `json:"akPublic"` // TPMT_PUBLIC
	AKCreate   []byte    `json:"akCreateAttestation"`
	AKCreateD  []byte    `json:"akCreateData"`
	AKCreateS  []byte    `json:"akCreateSignature"`
	StoredAt   time.Time `json:"storedAt"`
}

// VaultNonce is a nonce issued to one site for one unseal request; kept
// until it expires so a replay is told apart from an unknown nonce.
type VaultNonce struct {
	ID        string    `json:"id"` // hex of the nonce
	Site      string    `json:"site"`
	ExpiresAt time.Time `json:"expiresAt"`
	Used      bool      `json:"used,omitempty"`
}

// UnsealRequest is a site's ask for its key with one set of PCR values.
// Its ID is derived from the site and the values, so asking again with
// the same values finds the same request.
type UnsealRequest struct {
	ID          string            `json:"id"`
	Site        string            `json:"site"`
	Tenant      string            `json:"tenant"`
	SiteName    string            `json:"siteName"`
	State       string            `json:"state"` // enrollapi.Unseal*
	PCRs        map[string][]byte `json:"pcrs"`  // sealed selection: index → SHA-256
	ChangedPCRs []int             `json:"changedPcrs,omitempty"`
	Image       string            `json:"imageVersion,omitempty"`
	EventLog    []byte            `json:"eventLog,omitempty"`
	CreatedAt   time.Time         `json:"createdAt"`
	LastAsked   time.Time         `json:"lastAsked"`
	Asks        int               `json:"asks"`
	DecidedBy   string            `json:"decidedBy,omitempty"`
	DecidedAt   time.Time         `json:"decidedAt,omitzero"`
	ReleasedAt  time.Time         `json:"releasedAt,omitzero"`
	// Approval is the PCR approval that released it, if one did.
	Approval string `json:"approval,omitempty"`
}

// PCRApproval approves a set of PCR values (for an image version) for
// every site of a tenant, or of every tenant when Tenant is empty: a site
// whose quoted values equal these at every index listed gets its key with
// no person asked.
type PCRApproval struct {
	ID        string            `json:"id"`
	Tenant    string            `json:"tenant,omitempty"`
	Image     string            `json:"imageVersion,omitempty"`
	PCRs      map[string][]byte `json:"pcrs"`
	CreatedAt time.Time         `json:"createdAt"`
	CreatedBy string            `json:"createdBy,omitempty"`
}

// SiteVault is a site's vault state from its last status report.
type SiteVault struct {
	State       string `json:"state"`
	ChangedPCRs []int  `json:"changedPcrs,omitempty"`
	Generation  int    `json:"generation,omitempty"`
	Reason      string `json:"reason,omitempty"`
}
