// Package vaultapi is the wire format of the vault's API (skerry vault, on
// contract.VaultSocket): request and answer bodies, and the error codes of
// its own. Byte fields travel as base64 (encoding/json's []byte).
//
// Every request but GET /v1/status carries "Authorization: Bearer TOKEN".
// A tenant token acts for its tenant only; the system token
// (/perm/vault/system.token, root only) manages tokens and rotations and
// acts for a tenant named by the "tenant" query parameter.
package vaultapi

import (
	"time"

	"github.com/skerry/skerry/services/api/secretapi"

	"github.com/skerry/skerry/services/httpjson"
)

// Vault states.
const (
	StateUnsealed = "unsealed" // the master key is in memory: the vault serves
	StateSealed   = "sealed"   // the master key could not be unsealed: see Reason
)

// Status is the answer of GET /v1/status.
type Status struct {
	State string `json:"state"`
	// Reason says why the vault is sealed and what to do.
	Reason string `json:"reason,omitempty"`
	// ChangedPCRs are the PCRs whose values differ from those the master
	// key was sealed to (sealed state only).
	ChangedPCRs []int `json:"changedPcrs,omitempty"`
	// PCRs is the selection the master key is sealed to.
	PCRs             []int     `json:"pcrs,omitempty"`
	MasterGeneration int       `json:"masterGeneration,omitempty"`
	UnsealedAt       time.Time `json:"unsealedAt,omitzero"`
	// UnsealCommands is the count of TPM commands the unseal at start took.
	UnsealCommands int `json:"unsealCommands,omitempty"`
	// AuditDropped counts audit events that could not be queued for the
	// stream log.
	AuditDropped uint64 `json:"auditDropped"`
}

// NewToken is the body of POST /v1/tokens (system token only).
type NewToken struct {
	Tenant string `json:"tenant"`
}

// Token is the answer of POST /v1/tokens.
type Token struct {
	Tenant string `json:"tenant"`
	Token  string `json:"token"`
}

// PutSecret is the body of PUT /v1/secrets/{name}.
type PutSecret struct {
	Value []byte `json:"value"`
}

// Secret is the answer of GET /v1/secrets/{name}[?version=N] (Value set)
// and of PUT (Value empty).
type Secret struct {
	Name    string    `json:"name"`
	Version int       `json:"version"`
	Created time.Time `json:"created"`
	Value   []byte    `json:"value,omitempty"`
}

// SecretList is the answer of GET /v1/secrets.
type SecretList struct {
	Secrets []SecretInfo `json:"secrets"`
}

// SecretInfo names a secret and its latest version, never its value.
type SecretInfo struct {
	Name   string `json:"name"`
	Latest int    `json:"latest"`
}

// Key types.
const (
	KeyAES256GCM = "aes256-gcm" // encrypt, decrypt, rewrap
	KeyFF1       = "ff1-aes256" // format-preserving encrypt and decrypt
	KeyEd25519   = "ed25519"    // sign, verify
	KeyECDSAP256 = "ecdsa-p256" // sign, verify (SHA-256, ASN.1 signature)
)

// NewKey is the body of POST /v1/keys.
type NewKey struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Key describes a named key: never its secret half.
type Key struct {
	Name    string       `json:"name"`
	Type    string       `json:"type"`
	Latest  int          `json:"latest"`
	Created time.Time    `json:"created"`
	Public  []PublicHalf `json:"public,omitempty"` // signing keys: each version's public key
}

// PublicHalf is a signing key version's public key, PKIX DER.
type PublicHalf struct {
	Version int    `json:"version"`
	PKIX    []byte `json:"pkix"`
}

// KeyList is the answer of GET /v1/keys.
type KeyList struct {
	Keys []Key `json:"keys"`
}

// Encrypt is the body of POST /v1/keys/{name}/encrypt. Context is
// authenticated but not encrypted: decrypt must present the same.
type Encrypt struct {
	Plaintext []byte `json:"plaintext"`
	Context   []byte `json:"context,omitempty"`
}

// Ciphertext is the answer of encrypt and rewrap:
// "vault:v<version>:<base64 nonce and sealed data>".
type Ciphertext struct {
	Ciphertext string `json:"ciphertext"`
	Version    int    `json:"version"`
}

// Decrypt is the body of POST /v1/keys/{name}/decrypt and /rewrap.
type Decrypt struct {
	Ciphertext string `json:"ciphertext"`
	Context    []byte `json:"context,omitempty"`
}

// Plaintext is the answer of decrypt.
type Plaintext struct {
	Plaintext []byte `json:"plaintext"`
	Version   int    `json:"version"`
}

// FPE is the body of POST /v1/keys/{name}/fpe/encrypt and /fpe/decrypt.
// Alphabet lists the symbols in order (default "0123456789"); Version 0
// means the latest (encrypt only: decrypt must name the version).
type FPE struct {
	Value    string `json:"value"`
	Alphabet string `json:"alphabet,omitempty"`
	Tweak    []byte `json:"tweak,omitempty"`
	Version  int    `json:"version,omitempty"`
}

// FPEResult is the answer of the FPE calls.
type FPEResult struct {
	Value   string `json:"value"`
	Version int    `json:"version"`
}

// Sign is the body of POST /v1/keys/{name}/sign.
type Sign struct {
	Message []byte `json:"message"`
}

// Signature is the answer of sign.
type Signature struct {
	Signature []byte `json:"signature"`
	Version   int    `json:"version"`
}

// Verify is the body of POST /v1/keys/{name}/verify.
type Verify struct {
	Message   []byte `json:"message"`
	Signature []byte `json:"signature"`
	Version   int    `json:"version"`
}

// Verified is the answer of verify.
type Verified struct {
	Valid bool `json:"valid"`
}

// Mask modes.
const (
	MaskKeep   = "keep"   // keep the first First and last Last characters, the rest MaskChar
	MaskHash   = "hash"   // a keyed hash (HMAC-SHA-256 under a tenant key), hex
	MaskRedact = "redact" // "[redacted]"
)

// Mask is the body of POST /v1/mask.
type Mask struct {
	Value string `json:"value"`
	Mode  string `json:"mode"`
	First int    `json:"first,omitempty"`
	Last  int    `json:"last,omitempty"`
	// MaskChar replaces hidden characters in keep mode (default "*").
	MaskChar string `json:"maskChar,omitempty"`
}

// Masked is the answer of mask.
type Masked struct {
	Value string `json:"value"`
}

// Error codes of the vault's own, beside httpjson's.
const (
	// CodeSealed: the vault is sealed; GET /v1/status says why.
	CodeSealed = "sealed"
	// CodeWrongKeyType: the key cannot do this (signing with an AES key).
	CodeWrongKeyType = "wrong_key_type"
	// CodeDecrypt: the ciphertext is not one of this key's, or was
	// altered, or the context differs.
	CodeDecrypt = "decrypt_failed"
)

// Sentinels for the vault's codes, for errors.Is on a client's errors.
var (
	ErrSealed       = &httpjson.Error{Code: CodeSealed}
	ErrWrongKeyType = &httpjson.Error{Code: CodeWrongKeyType}
	ErrDecrypt      = &httpjson.Error{Code: CodeDecrypt}
)

// AppFiles is the body of PUT /v1/apps/{app}/files (system token, with
// ?tenant=): the workload runner asks for an app's secrets as files,
// owned by the app's user. The answer is AppFilesDir.
type AppFiles struct {
	UID     int      `json:"uid"`
	GID     int      `json:"gid"`
	Secrets []string `json:"secrets"`
	// Files renames secrets' files: secret name -> file name (default
	// the secret's name).
	Files map[string]string `json:"files,omitempty"`
}

// AppFilesDir is the answer of PUT /v1/apps/{app}/files: the directory to
// mount read-only into the app's containers.
type AppFilesDir struct {
	Dir string `json:"dir"`
}

// Revoked is the answer of DELETE /v1/tenants/{tenant}/tokens (system
// token only): how many of the tenant's tokens were removed.
type Revoked struct {
	Tokens int `json:"tokens"`
}

// SiteKey is the answer of GET /v1/site-key (anyone): the public half of
// the vault's site key pair, which the tower seals secrets to. The
// private half is kept sealed under the master key.
type SiteKey struct {
	Public []byte `json:"public"`
	KeyID  string `json:"keyId"`
}

// SiteSecrets is the body of PUT /v1/site-secrets (system token): every
// secret the tower holds for this site, sealed to the site key. The vault
// stores each new version, rewrites the files of the apps that use it,
// and deletes the tower's secrets no longer listed (never a secret a
// tenant put on the box itself).
type SiteSecrets struct {
	// Site is the site ID the envelopes are sealed for.
	Site    string               `json:"site"`
	KeyID   string               `json:"keyId"`
	Secrets []secretapi.Envelope `json:"secrets"`
}

// SiteSecretsResult is the answer of PUT /v1/site-secrets.
type SiteSecretsResult struct {
	Stored    int `json:"stored"`
	Unchanged int `json:"unchanged"`
	Deleted   int `json:"deleted"`
	// Refused lists envelopes that did not open or were not valid, with
	// why; the others are stored.
	Refused []RefusedSecret `json:"refused,omitempty"`
}

// RefusedSecret is one envelope the vault did not take.
type RefusedSecret struct {
	Tenant string `json:"tenant"`
	Name   string `json:"name"`
	Reason string `json:"reason"`
}
