// Package vault keeps tenants' secrets and keys on a box, sealed to its
// TPM: the master key is sealed under a PCR policy (package seal) and
// unsealed at every start with no network and no person; per-tenant data
// keys wrapped by it encrypt every secret and key (Store); the API (Vault's
// Handler, on contract.VaultSocket) offers secrets, encryption with named
// versioned keys, FF1 format-preserving encryption (package ff1), masking
// and signing to tenants' applications, each with its own token, and
// audits every access into the stream log (Auditor). See README.md.
package vault
