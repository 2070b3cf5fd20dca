package vault

import (
	"errors"
	"fmt"
)

// The vault's errors, for errors.Is; api.go maps each to a status and code.
var (
	// ErrSealed is returned by every tenant operation while the master
	// key is not unsealed.
	ErrSealed = errors.New("the vault is sealed")
	// ErrNotFound is returned for a secret, key or version the tenant
	// does not have (another tenant's is reported the same way).
	ErrNotFound = errors.New("not found")
	// ErrExists is returned when creating a key whose name is taken.
	ErrExists = errors.New("already exists")
	// ErrInvalid is returned for a bad name, type or argument.
	ErrInvalid = errors.New("invalid request")
	// ErrWrongKeyType is returned for an operation the key's type cannot do.
	ErrWrongKeyType = errors.New("wrong key type")
	// ErrDecrypt is returned for a ciphertext that does not open: another
	// key's, altered, or with another context.
	ErrDecrypt = errors.New("decryption failed")
	// ErrWrongMaster is returned by Unlock for a master key that did not
	// wrap this store's data keys.
	ErrWrongMaster = errors.New("the master key does not open this store")
)

func invalidf(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...)
}
