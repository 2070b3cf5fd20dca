package vaultapi

// Escrow is the body of POST /v1/escrow (system token): seal the master
// key to the tower's escrow public key (HPKE, enrollapi.VaultEscrowSuite)
// for site, so the tower can release it when the PCRs change.
type Escrow struct {
	Site      string `json:"site"`
	PublicKey []byte `json:"publicKey"`
}

// Escrowed is the answer of POST /v1/escrow.
type Escrowed struct {
	Blob       []byte `json:"blob"`
	Generation int    `json:"generation"`
}

// RemoteUnseal is the body of POST /v1/unseal (system token): the master
// key the tower released (activated in this box's TPM by the agent). The
// vault opens its store with it and reseals it to the current PCRs.
type RemoteUnseal struct {
	Key []byte `json:"key"`
}

// CodeWrongKey: the key given to POST /v1/unseal does not open the store.
const CodeWrongKey = "wrong_master_key"
