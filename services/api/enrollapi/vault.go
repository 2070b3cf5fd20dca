package enrollapi

import "time"

// Remote unseal of a site's vault, over mutual TLS ("self" is the site the
// client certificate names). services/tower/README.md ("Vault escrow and
// remote unseal") has the protocol; in short:
//
//  1. GET [PathVaultEscrowKey]: the tower's escrow public key (HPKE).
//  2. POST [PathVaultEscrow] with a [VaultEscrow]: the master key sealed
//     to that key by the vault, the EK and the AK parameters, kept by the
//     tower with the site.
//  3. When the vault is sealed for changed PCRs: POST [PathVaultNonce] for
//     a fresh one-use nonce, then POST [PathVaultUnseal] with a
//     [VaultUnseal]: a quote of the PCRs over that nonce by the AK. The
//     answer is a [VaultUnsealResult]: released (a credential only the
//     site's TPM can activate), pending (an operator has not decided), or
//     an error (refused).
const (
	PathVaultEscrowKey = "/v1/sites/self/vault/escrow-key"
	PathVaultEscrow    = "/v1/sites/self/vault/escrow"
	PathVaultNonce     = "/v1/sites/self/vault/nonce"
	PathVaultUnseal    = "/v1/sites/self/vault/unseal"
)

// VaultEscrowSuite names the HPKE suite of escrow blobs: the blob is
// enc || ciphertext of hpke.Seal with info VaultEscrowInfo(site).
const VaultEscrowSuite = "DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM"

// VaultEscrowInfo is the HPKE info of a site's escrow blob: a blob made
// for one site does not open as another's.
func VaultEscrowInfo(site string) []byte { return []byte("skerry vault escrow v1\x00" + site) }

// MaxVaultEventLog bounds the event log in a VaultUnseal (base64 in a
// body of at most MaxBodyBytes); a site with a larger one sends none.
const MaxVaultEventLog = 40 << 10

// VaultEscrowKey is the answer of GET PathVaultEscrowKey.
type VaultEscrowKey struct {
	Suite     string `json:"suite"`
	PublicKey []byte `json:"publicKey"`
}

// VaultEscrow is the body of POST PathVaultEscrow.
type VaultEscrow struct {
	// Blob is the vault's master key sealed to the escrow key.
	Blob []byte `json:"blob"`
	// Generation is the master key's generation: a rotation escrows again.
	Generation int `json:"generation"`
	// EKPublic (PKIX DER) must be the EK the site enrolled with; AK is the
	// attestation key that will quote, and that a released key is bound to.
	EKPublic []byte                `json:"ekPublic"`
	AK       AttestationParameters `json:"ak"`
}

// VaultNonce is the answer of POST PathVaultNonce.
type VaultNonce struct {
	Nonce     []byte    `json:"nonce"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// VaultPCR is one SHA-256 PCR value.
type VaultPCR struct {
	Index  int    `json:"index"`
	SHA256 []byte `json:"sha256"`
}

// VaultUnseal is the body of POST PathVaultUnseal.
type VaultUnseal struct {
	Nonce []byte `json:"nonce"`
	// Quote and Signature are TPM2_Quote's TPMS_ATTEST and TPMT_SIGNATURE
	// by the escrowed AK, over SHA-256 PCRs with the nonce as extra data.
	Quote     []byte     `json:"quote"`
	Signature []byte     `json:"signature"`
	PCRs      []VaultPCR `json:"pcrs"`
	// SealedPCRs is the selection the master key was sealed to, and
	// ChangedPCRs those that differ now (as the vault says).
	SealedPCRs  []int `json:"sealedPcrs"`
	ChangedPCRs []int `json:"changedPcrs,omitempty"`
	// EventLog is the TCG event log, when the firmware gave one: shown to
	// the operator, not trusted.
	EventLog []byte `json:"eventLog,omitempty"`
}

// Unseal request states.
const (
	UnsealPending  = "pending"  // no operator decision, no approved PCR values match
	UnsealApproved = "approved" // an operator approved it; released at the site's next ask
	UnsealRefused  = "refused"  // an operator refused it
	UnsealReleased = "released" // the key went to the site
)

// VaultUnsealResult is the answer of POST PathVaultUnseal.
type VaultUnsealResult struct {
	State   string `json:"state"`
	Request string `json:"request"` // the unseal request's ID
	Message string `json:"message,omitempty"`
	// Credential and Secret (released only) are TPM2_MakeCredential's
	// output to the site's EK for its AK: TPM2_ActivateCredential in that
	// TPM gives the master key.
	Credential []byte `json:"credential,omitempty"`
	Secret     []byte `json:"secret,omitempty"`
	// RetryAfterSeconds (pending) is when to ask again.
	RetryAfterSeconds int `json:"retryAfterSeconds,omitempty"`
}

// VaultReport is the vault's state in a StatusReport.
type VaultReport struct {
	State       string `json:"state"` // vaultapi.StateSealed or StateUnsealed
	ChangedPCRs []int  `json:"changedPcrs,omitempty"`
	Generation  int    `json:"generation,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

// Codes of remote unseal refusals.
const (
	// CodeNoEscrow: the tower holds no escrowed key for this site (it
	// never escrowed, or its vault was never unsealed while online).
	CodeNoEscrow = "vault_no_escrow"
	// CodeNonceUnknown: the nonce was never issued to this site, or was
	// forgotten; CodeNonceExpired: it is too old; CodeNonceUsed: it was
	// used already (a replayed request or quote). Ask for a new one.
	CodeNonceUnknown = "vault_nonce_unknown"
	CodeNonceExpired = "vault_nonce_expired"
	CodeNonceUsed    = "vault_nonce_used"
	// CodeQuoteInvalid: the quote does not verify against the site's
	// escrowed AK, is not over the nonce, or does not match the PCRs sent.
	CodeQuoteInvalid = "vault_quote_invalid"
	// CodeUnsealRefused: an operator refused the unseal of these PCR values.
	CodeUnsealRefused = "vault_unseal_refused"
)
