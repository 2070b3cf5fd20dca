package tower

import (
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/skerry/skerry/services/atomicfile"
)

// VaultEscrowKeyFile is the tower's escrow private key (X25519, 32 raw
// bytes, 0600) in its data directory. Sites' vault master keys are sealed
// to its public half; losing it loses every remote unseal, so back it up
// with the CA.
const VaultEscrowKeyFile = "vault-escrow.key"

// Errors of remote unseal; errors.go's table maps them.
var (
	// ErrNoEscrow is returned when the tower holds no escrowed key for
	// the site.
	ErrNoEscrow = errors.New("no escrowed vault key")
	// ErrNonceUnknown, ErrNonceExpired and ErrNonceUsed are returned for a
	// nonce that was not issued to this site, is too old, or was used.
	ErrNonceUnknown = errors.New("unseal nonce unknown")
	ErrNonceExpired = errors.New("unseal nonce expired")
	ErrNonceUsed    = errors.New("unseal nonce already used")
	// ErrQuoteInvalid is returned when a quote does not verify.
	ErrQuoteInvalid = errors.New("quote invalid")
	// ErrUnsealRefused is returned when an operator refused the unseal.
	ErrUnsealRefused = errors.New("unseal refused")
)

// The escrow suite: enrollapi.VaultEscrowSuite.
var (
	escrowKEM  = hpke.DHKEM(ecdh.X25519())
	escrowKDF  = hpke.HKDFSHA256()
	escrowAEAD = hpke.AES256GCM()
)

// WithVaultEscrowKey sets the private key sites' vault master keys are
// escrowed to (Open loads it from VaultEscrowKeyFile). Without it a
// Server makes one that lives as long as it does: fine for tests, useless
// across restarts.
func WithVaultEscrowKey(k hpke.PrivateKey) Option { return func(s *Server) { s.escrowKey = k } }

// loadEscrowKey reads dir's escrow key, creating it on first start.
func loadEscrowKey(dir string) (hpke.PrivateKey, error) {
	p := filepath.Join(dir, VaultEscrowKeyFile)
	raw, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		k, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("make vault escrow key: %w", err)
		}
		raw = k.Bytes()
		if err := atomicfile.WriteFile(p, raw, 0o600); err != nil {
			return nil, fmt.Errorf("store vault escrow key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("read vault escrow key: %w", err)
	}
	k, err := escrowKEM.NewPrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("vault escrow key %s: %w; restore it from a backup, or remove it to make a new one (every site escrows again at its next report)", p, err)
	}
	return k, nil
}

// escrow returns the escrow key, making an ephemeral one when the Server
// was given none.
func (s *Server) escrow() hpke.PrivateKey {
	s.escrowOnce.Do(func() {
		if s.escrowKey == nil {
			k, err := escrowKEM.GenerateKey()
			if err != nil {
				panic(err) // crypto/rand does not fail
			}
			s.escrowKey = k
		}
	})
	return s.escrowKey
}
