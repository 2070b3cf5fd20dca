package vault

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"go.etcd.io/bbolt"

	"github.com/skerry/skerry/services/atomicfile"
)

// Principal is who a request acts for.
type Principal struct {
	Tenant string // empty for the system token
	System bool
}

// String names the principal in audit records.
func (p Principal) String() string {
	if p.System {
		return "system"
	}
	return "tenant:" + p.Tenant
}

// Auth checks bearer tokens: the system token, in <dir>/system.token
// (0600, made on first start; root on the box reads it), and tenant
// tokens, kept in the store as SHA-256 hashes so the file does not hand
// them out. Tokens work while the vault is sealed, so an operator can
// still ask it why.
type Auth struct {
	store  *Store
	system [32]byte
	path   string
}

// SystemTokenFile is the system token's file name in the vault's dir.
const SystemTokenFile = "system.token"

func loadAuth(dir string, store *Store) (*Auth, error) {
	a := &Auth{store: store, path: filepath.Join(dir, SystemTokenFile)}
	raw, err := os.ReadFile(a.path)
	if errors.Is(err, os.ErrNotExist) {
		tok := newToken("sys")
		if err := atomicfile.WriteFile(a.path, []byte(tok+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("write system token: %w", err)
		}
		raw = []byte(tok)
	} else if err != nil {
		return nil, fmt.Errorf("read system token: %w", err)
	}
	a.system = sha256.Sum256([]byte(strings.TrimSpace(string(raw))))
	return a, nil
}

// SystemTokenPath is where the system token is.
func (a *Auth) SystemTokenPath() string { return a.path }

// Check returns the principal of r's bearer token.
func (a *Auth) Check(r *http.Request) (Principal, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return Principal{}, false
	}
	h := sha256.Sum256([]byte(tok))
	if subtle.ConstantTimeCompare(h[:], a.system[:]) == 1 {
		return Principal{System: true}, true
	}
	var tenant string
	a.store.db.View(func(tx *bbolt.Tx) error {
		tenant = string(tx.Bucket(bTokens).Get(h[:]))
		return nil
	})
	return Principal{Tenant: tenant}, tenant != ""
}

// NewTenantToken makes and stores a token for tenant.
func (a *Auth) NewTenantToken(tenant string) (string, error) {
	if err := ValidTenant(tenant); err != nil {
		return "", err
	}
	tok := newToken(tenant)
	h := sha256.Sum256([]byte(tok))
	err := a.store.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bTokens).Put(h[:], []byte(tenant)) })
	if err != nil {
		return "", fmt.Errorf("store token: %w", err)
	}
	return tok, nil
}

func newToken(prefix string) string {
	b := make([]byte, 24)
	rand.Read(b)
	return "skv_" + prefix + "_" + hex.EncodeToString(b)
}

// RevokeTenant removes every token of tenant and returns how many there
// were; the tenant's secrets and keys stay.
func (a *Auth) RevokeTenant(tenant string) (int, error) {
	if err := ValidTenant(tenant); err != nil {
		return 0, err
	}
	n := 0
	err := a.store.db.Update(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bTokens).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if string(v) == tenant {
				if err := c.Delete(); err != nil {
					return err
				}
				n++
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("revoke tokens of %s: %w", tenant, err)
	}
	return n, nil
}
