package tower

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/atomicfile"
	"github.com/skerry/skerry/services/tower/ca"
	"github.com/skerry/skerry/services/tower/store"
	"github.com/skerry/skerry/services/tower/store/boltstore"
)

// Files in the data directory, besides the CA's.
const (
	StoreFile         = "tower.db"
	OperatorTokenFile = "operator-token"
)

// Opened is a tower set up from its data directory.
type Opened struct {
	*Server
	Dir   string
	Store store.Store
	// TokenFile is where the first operator token was written; TokenCreated
	// says whether this start wrote it.
	TokenFile    string
	TokenCreated bool
}

// Open sets up a tower in dir with no other setup: it creates the
// directory, the bbolt store and the CA on first start, and writes a first
// operator token to dir/operator-token (0600) while the store holds none.
func Open(ctx context.Context, dir string, opts ...Option) (*Opened, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	authority, err := ca.LoadOrCreate(dir, "skerry tower CA")
	if err != nil {
		return nil, err
	}
	escrowKey, err := loadEscrowKey(dir)
	if err != nil {
		return nil, err
	}
	opts = append([]Option{WithVaultEscrowKey(escrowKey)}, opts...)
	key, err := loadSecretKey(dir)
	if err != nil {
		return nil, err
	}
	next, err := loadNextSecretKey(dir)
	if err != nil {
		return nil, err
	}
	opts = append([]Option{WithSecretKey(key), withSecretKeyDir(dir, next)}, opts...)
	db, err := boltstore.Open(filepath.Join(dir, StoreFile))
	if err != nil {
		return nil, err
	}
	o := &Opened{Server: New(db, authority, opts...), Dir: dir, Store: db, TokenFile: filepath.Join(dir, OperatorTokenFile)}
	if next != nil {
		// A rotation of the secret key was stopped: finish it.
		if _, err := o.finishSecretKeyRotation(ctx); err != nil {
			db.Close()
			return nil, err
		}
	}
	if err := o.firstToken(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := o.openUplink(dir); err != nil {
		db.Close()
		return nil, err
	}
	return o, nil
}

// firstToken creates an operator token when there is none, so that a new
// tower can be used at once; the operator should create named tokens and
// revoke this one.
func (o *Opened) firstToken(ctx context.Context) error {
	var have bool
	err := o.store.View(ctx, func(tx store.Tx) error {
		ts, _, err := tx.OperatorTokens(store.Filter{}, store.Page{Limit: 1})
		have = len(ts) > 0
		return err
	})
	if err != nil || have {
		return err
	}
	tok, err := o.CreateOperatorToken(ctx, towerapi.OperatorTokenCreate{Name: "first", Role: store.RoleOperator}, "setup")
	if err != nil {
		return fmt.Errorf("create first operator token: %w", err)
	}
	if err := atomicfile.WriteFile(o.TokenFile, []byte(tok.Token+"\n"), 0o600); err != nil {
		return fmt.Errorf("write first operator token: %w", err)
	}
	o.TokenCreated = true
	return nil
}

// Close closes the store and the uplinked records' stream log.
func (o *Opened) Close() error { return errors.Join(o.closeUplink(), o.Store.Close()) }

// ReadToken reads an operator token file as written by Open.
func ReadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read operator token: %w", err)
	}
	tok := string(b)
	for len(tok) > 0 && (tok[len(tok)-1] == '\n' || tok[len(tok)-1] == '\r') {
		tok = tok[:len(tok)-1]
	}
	if tok == "" {
		return "", errors.New("read operator token: file is empty")
	}
	return tok, nil
}
